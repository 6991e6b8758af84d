//! Seat allocation (see the `seats` issue); filled in by its own change.
