//! Table tests of the diagnosis over hand-built reports.
