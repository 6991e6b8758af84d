//! Ballot polling (BRAVO) and ballot-level comparison, with sample-size estimates.
