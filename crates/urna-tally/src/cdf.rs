//! NIST SP 1500-100 v2 Election Results Common Data Format, JSON: the election's results as an
//! `ElectionReport`, computed from the log's replay like every other published file.
