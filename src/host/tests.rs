//! Table tests of manager recognition and fixes on the rule layouts each manager writes.
