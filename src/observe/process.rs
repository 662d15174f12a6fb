//! `metrics.prometheus.add_process_metrics`: the standard `process_*` series (the names the
//! Prometheus clients' process collectors use, and Bento with this option), read from `/proc`
//! at scrape time. Off by default, as in Bento. Elsewhere than Linux nothing is exported.

/// Process figures, each only when it could be read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProcessStats {
    pub cpu_seconds: Option<f64>,
    pub resident_bytes: Option<f64>,
    pub virtual_bytes: Option<f64>,
    pub threads: Option<f64>,
    pub open_fds: Option<f64>,
    pub start_time_seconds: Option<f64>,
}

/// `USER_HZ`: the unit of `/proc/<pid>/stat` times, fixed at 100 by the Linux ABI.
const TICKS_PER_SEC: f64 = 100.0;

/// Read the current process's figures.
pub fn read() -> ProcessStats {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let boot = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let mut s = parse(&status, &stat, &boot);
    s.open_fds = std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|d| d.count() as f64);
    s
}

/// Parse `/proc/self/status`, `/proc/self/stat` and `/proc/stat` texts.
pub fn parse(status: &str, stat: &str, proc_stat: &str) -> ProcessStats {
    let kb = |key: &str| -> Option<f64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<f64>().ok())
    };
    // Fields after the `(comm)` part, which may itself contain spaces and parentheses.
    let fields: Vec<&str> = stat
        .rfind(')')
        .map(|i| stat[i + 1..].split_whitespace().collect())
        .unwrap_or_default();
    // `fields[0]` is field 3 (state): field N is `fields[N - 3]`.
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok());
    let btime = proc_stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse::<f64>().ok());
    ProcessStats {
        cpu_seconds: field(14)
            .zip(field(15))
            .map(|(u, s)| (u + s) / TICKS_PER_SEC),
        resident_bytes: kb("VmRSS:").map(|k| k * 1024.0),
        virtual_bytes: kb("VmSize:").map(|k| k * 1024.0),
        threads: kb("Threads:"),
        open_fds: None,
        start_time_seconds: field(22)
            .zip(btime)
            .map(|(start, boot)| boot + start / TICKS_PER_SEC),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_texts() {
        let status = "Name:\tflexprice\nVmSize:\t  200000 kB\nVmRSS:\t   12345 kB\nThreads:\t9\n";
        let stat = "4242 (flex (x) price) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 123400 204800000 3086 18446744073709551615";
        let boot = "cpu  1 2 3\nbtime 1700000000\nprocesses 5\n";
        let s = parse(status, stat, boot);
        assert_eq!(s.resident_bytes, Some(12345.0 * 1024.0));
        assert_eq!(s.virtual_bytes, Some(200000.0 * 1024.0));
        assert_eq!(s.threads, Some(9.0));
        assert_eq!(s.cpu_seconds, Some(3.0));
        assert_eq!(s.start_time_seconds, Some(1700000000.0 + 1234.0));
        assert_eq!(parse("", "", ""), ProcessStats::default());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_this_process() {
        let s = read();
        assert!(s.resident_bytes.is_some_and(|b| b > 0.0));
        assert!(s.threads.is_some_and(|t| t >= 1.0));
        assert!(s.open_fds.is_some_and(|n| n >= 3.0));
        assert!(s.cpu_seconds.is_some());
        assert!(s.start_time_seconds.is_some_and(|t| t > 1.0e9));
    }
}
