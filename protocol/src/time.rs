//! Time as the protocol sees it: unix seconds and ten-minute interval numbers.
//!
//! The protocol never reads a clock. Every function that needs the time takes a [`UnixTime`]
//! from its caller, so a phone passes its wall clock, a server its own, and the simulator a
//! virtual clock.

use core::fmt;

/// Length of one interval in seconds (GAEN's `EKRollingPeriod` unit: ten minutes).
pub const INTERVAL_SECONDS: u64 = 600;

/// Number of intervals in one UTC day: the validity of a [`DailyKey`](crate::DailyKey).
pub const INTERVALS_PER_DAY: u32 = 144;

/// Seconds in one day.
pub const SECONDS_PER_DAY: u64 = 86_400;

/// How many days daily keys and sightings are kept before they are erased.
pub const RETENTION_DAYS: u32 = 14;

/// [`RETENTION_DAYS`] in intervals (2016).
pub const RETENTION_INTERVALS: u32 = RETENTION_DAYS * INTERVALS_PER_DAY;

/// [`RETENTION_DAYS`] in seconds (1,209,600).
pub const RETENTION_SECONDS: u64 = RETENTION_DAYS as u64 * SECONDS_PER_DAY;

/// A point in time: whole seconds since 1970-01-01T00:00:00Z, leap seconds not counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime(pub u64);

impl UnixTime {
    /// The interval this instant falls in: `floor(seconds / 600)`.
    ///
    /// Saturates at `u32::MAX` for instants past the year 83,000, which no valid clock reaches.
    pub fn interval(self) -> IntervalNumber {
        IntervalNumber(u32::try_from(self.0 / INTERVAL_SECONDS).unwrap_or(u32::MAX))
    }

    /// Seconds since the epoch.
    pub fn seconds(self) -> u64 {
        self.0
    }

    /// This instant moved `seconds` later, saturating at the end of time.
    pub fn plus_seconds(self, seconds: u64) -> UnixTime {
        UnixTime(self.0.saturating_add(seconds))
    }

    /// This instant moved `seconds` earlier, saturating at the epoch.
    pub fn minus_seconds(self, seconds: u64) -> UnixTime {
        UnixTime(self.0.saturating_sub(seconds))
    }
}

impl fmt::Display for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A ten-minute interval: GAEN's `ENIntervalNumber`, `floor(unix seconds / 600)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IntervalNumber(pub u32);

impl IntervalNumber {
    /// The first second of this interval.
    pub fn start(self) -> UnixTime {
        UnixTime(u64::from(self.0) * INTERVAL_SECONDS)
    }

    /// The first second after this interval.
    pub fn end(self) -> UnixTime {
        UnixTime((u64::from(self.0) + 1) * INTERVAL_SECONDS)
    }

    /// The first interval of the UTC day this interval belongs to (a multiple of 144).
    pub fn day_start(self) -> IntervalNumber {
        IntervalNumber(self.0 - self.0 % INTERVALS_PER_DAY)
    }

    /// The interval `n` later, saturating.
    pub fn plus(self, n: u32) -> IntervalNumber {
        IntervalNumber(self.0.saturating_add(n))
    }

    /// The interval `n` earlier, saturating at zero.
    pub fn minus(self, n: u32) -> IntervalNumber {
        IntervalNumber(self.0.saturating_sub(n))
    }
}

impl fmt::Display for IntervalNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_of_the_gaen_test_vector_key() {
        // TestVectors: key generated at unix 1585785600 = interval 2642976, a day boundary.
        let t = UnixTime(1_585_785_600);
        assert_eq!(t.interval(), IntervalNumber(2_642_976));
        assert_eq!(t.interval().day_start(), IntervalNumber(2_642_976));
        assert_eq!(
            UnixTime(1_585_785_600 + 599).interval(),
            IntervalNumber(2_642_976)
        );
        assert_eq!(
            UnixTime(1_585_785_600 + 600).interval(),
            IntervalNumber(2_642_977)
        );
        assert_eq!(IntervalNumber(2_642_977).start(), UnixTime(1_585_786_200));
        assert_eq!(IntervalNumber(2_642_976).end(), UnixTime(1_585_786_200));
        assert_eq!(
            IntervalNumber(2_642_976 + 200).day_start(),
            IntervalNumber(2_643_120)
        );
    }

    #[test]
    fn interval_saturates_instead_of_wrapping() {
        assert_eq!(UnixTime(u64::MAX).interval(), IntervalNumber(u32::MAX));
        assert_eq!(IntervalNumber(3).minus(10), IntervalNumber(0));
    }
}
