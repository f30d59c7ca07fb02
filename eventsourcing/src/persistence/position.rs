//! [`Position`]: how far a follower or projection is behind one leader.

/// How far a follower or projection is behind one leader: the leader's last notification id
/// and the last one processed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// The leader's name.
    pub leader: String,
    /// The follower's or projection's name.
    pub follower: String,
    /// The last notification id processed.
    pub processed: u64,
    /// The leader's last notification id.
    pub head: u64,
}

impl Position {
    /// How many notifications are left to process (at most: with topic filters, some of them
    /// are not the follower's to process).
    ///
    /// ```
    /// use eventsourcing::persistence::Position;
    ///
    /// let position = Position { leader: "Worlds".into(), follower: "Counters".into(), processed: 7, head: 10 };
    /// assert_eq!(position.lag(), 3);
    /// ```
    pub fn lag(&self) -> u64 {
        self.head.saturating_sub(self.processed)
    }
}
