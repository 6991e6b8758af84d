// The forensics view of the results page: the statistical screens of v1/forensics.json.
