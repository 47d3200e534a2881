//! The one clock of the workspace: seconds since the Unix epoch, as certificate validity and
//! audit records count them.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in seconds since 1970-01-01T00:00:00Z (0 if the system clock is set before it).
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
