//! dnsmasq cache statistics: CHAOS TXT queries for `hits.bind.`, `misses.bind.`,
//! `evictions.bind.`, `insertions.bind.`, `cachesize.bind.` (dnsmasq(8), "--cache-size"
//! and the CHAOS names it answers), strict reply validation, and the mapping of
//! dnsmasq's absolute values onto never-decreasing counters.

use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use hickory_proto::op::Message;
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};
use tokio_util::sync::CancellationToken;

use crate::dns::{ServerAddr, SharedExchanger, build_query};
use crate::metrics::Counter;

/// The statistics, in legacy query order.
pub const STAT_NAMES: [&str; 5] = [
    "hits.bind.",
    "misses.bind.",
    "evictions.bind.",
    "insertions.bind.",
    "cachesize.bind.",
];

/// Index of `cachesize.bind` in [`STAT_NAMES`].
pub const MAX_SIZE: usize = 4;

/// Why a statistics poll failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StatsError {
    /// Transport failure.
    #[error("{name}: {error}")]
    Exchange {
        /// Statistic queried.
        name: &'static str,
        /// Transport error text.
        error: String,
    },
    /// The reply did not hold exactly one TXT RR with one int64 string.
    #[error("{name}: {reason}")]
    BadReply {
        /// Statistic queried.
        name: &'static str,
        /// What was wrong.
        reason: String,
    },
}

/// Extracts the value from a reply: exactly one answer RR, of type TXT, with exactly
/// one character-string parseable as a signed 64-bit decimal.
pub fn parse_stat_reply(reply: &Message) -> Result<i64, String> {
    let [record] = reply.answers.as_slice() else {
        return Err(format!("expected 1 TXT RR, got {}", reply.answers.len()));
    };
    let RData::TXT(txt) = &record.data else {
        return Err(format!("expected TXT RR, got {}", record.record_type()));
    };
    let [s] = &*txt.txt_data else {
        return Err(format!("expected 1 TXT string, got {}", txt.txt_data.len()));
    };
    let text = std::str::from_utf8(s).map_err(|_| "TXT string is not UTF-8".to_string())?;
    text.parse::<i64>()
        .map_err(|_| format!("TXT string {text:?} is not an integer"))
}

/// Queries all five statistics; any failure fails the whole poll (legacy semantics).
pub async fn poll_once(
    exchanger: &SharedExchanger,
    server: &ServerAddr,
) -> Result<[i64; 5], StatsError> {
    let mut values = [0i64; 5];
    for (slot, name) in values.iter_mut().zip(STAT_NAMES) {
        let qname = Name::from_ascii(name).map_err(|e| StatsError::BadReply {
            name,
            reason: e.to_string(),
        })?;
        let query = build_query(&qname, RecordType::TXT, DNSClass::CH);
        let reply = exchanger
            .exchange(server, query)
            .await
            .map_err(|e| StatsError::Exchange {
                name,
                error: e.to_string(),
            })?;
        *slot = parse_stat_reply(&reply).map_err(|reason| StatsError::BadReply { name, reason })?;
    }
    Ok(values)
}

/// Exported dnsmasq counters plus the last absolute values seen.
#[derive(Debug, Default)]
pub struct DnsmasqStats {
    /// `hits, misses, evictions, insertions, max_size` counters.
    pub counters: [Counter; 5],
    /// Failed polls.
    pub errors: Counter,
    last: Mutex<[i64; 5]>,
}

impl DnsmasqStats {
    /// Applies one successful poll. Counters only grow: a value above the last one adds
    /// the difference; for hits/misses/evictions/insertions a value *below* the last one
    /// means dnsmasq restarted from zero, so the new value itself is added. `max_size`
    /// follows the legacy rule (positive deltas only) so a resized cache never inflates it.
    pub fn apply(&self, values: [i64; 5]) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        for (i, &v) in values.iter().enumerate() {
            let v = v.max(0);
            let prev = last[i];
            let add = if v > prev {
                v - prev
            } else if v < prev && i != MAX_SIZE {
                v
            } else {
                0
            };
            self.counters[i].inc_by(add.unsigned_abs());
            last[i] = v;
        }
    }
}

/// Polls every `interval` until `shutdown`; failed polls increment `errors`.
pub async fn run_poller(
    stats: Arc<DnsmasqStats>,
    exchanger: SharedExchanger,
    server: ServerAddr,
    interval: Duration,
    shutdown: CancellationToken,
) {
    // Log the first failure of a run of failures at warn, the rest at debug.
    let mut failing = false;
    loop {
        match shutdown
            .run_until_cancelled(poll_once(&exchanger, &server))
            .await
        {
            None => return,
            Some(Ok(values)) => {
                if failing {
                    tracing::info!(%server, "dnsmasq statistics available again");
                }
                failing = false;
                tracing::debug!(?values, "dnsmasq statistics");
                stats.apply(values);
            }
            Some(Err(e)) => {
                if failing {
                    tracing::debug!(%server, error = %e, "error getting metrics from dnsmasq");
                } else {
                    tracing::warn!(%server, error = %e, "error getting metrics from dnsmasq");
                }
                failing = true;
                stats.errors.inc();
            }
        }
        if shutdown
            .run_until_cancelled(tokio::time::sleep(interval))
            .await
            .is_none()
        {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{MessageType, OpCode};
    use hickory_proto::rr::Record;
    use hickory_proto::rr::rdata::{A, TXT};

    fn reply(records: Vec<RData>) -> Message {
        let mut m = Message::new(1, MessageType::Response, OpCode::Query);
        let name = Name::from_ascii("hits.bind.").unwrap();
        for r in records {
            m.add_answer(Record::from_rdata(name.clone(), 0, r));
        }
        m
    }

    #[test]
    fn reply_validation() {
        let txt = |v: &[&str]| RData::TXT(TXT::new(v.iter().map(|s| s.to_string()).collect()));
        assert_eq!(parse_stat_reply(&reply(vec![txt(&["42"])])), Ok(42));
        assert_eq!(parse_stat_reply(&reply(vec![txt(&["-3"])])), Ok(-3));
        assert!(parse_stat_reply(&reply(vec![])).is_err());
        assert!(parse_stat_reply(&reply(vec![txt(&["1"]), txt(&["2"])])).is_err());
        assert!(parse_stat_reply(&reply(vec![txt(&["1", "2"])])).is_err());
        assert!(parse_stat_reply(&reply(vec![txt(&["x"])])).is_err());
        assert!(parse_stat_reply(&reply(vec![txt(&["99999999999999999999"])])).is_err());
        assert!(parse_stat_reply(&reply(vec![RData::A(A::new(1, 2, 3, 4))])).is_err());
    }

    fn values(s: &DnsmasqStats) -> [u64; 5] {
        std::array::from_fn(|i| s.counters[i].get())
    }

    #[test]
    fn counters_never_decrease() {
        let s = DnsmasqStats::default();
        s.apply([10, 5, 0, 7, 1000]);
        assert_eq!(values(&s), [10, 5, 0, 7, 1000]);
        s.apply([15, 5, 1, 9, 1000]);
        assert_eq!(values(&s), [15, 5, 1, 9, 1000]);
        // dnsmasq restarted: values drop; counters keep growing from the new baseline.
        s.apply([2, 1, 0, 3, 1000]);
        assert_eq!(values(&s), [17, 6, 1, 12, 1000]);
        s.apply([4, 1, 0, 3, 500]);
        assert_eq!(values(&s), [19, 6, 1, 12, 1000]);
        s.apply([4, 1, 0, 3, 1337]);
        assert_eq!(values(&s), [19, 6, 1, 12, 1837]);
        // Negative values (nonsense) are clamped and never subtract.
        s.apply([-5, 1, 0, 3, 1337]);
        assert_eq!(values(&s), [19, 6, 1, 12, 1837]);
    }
}
