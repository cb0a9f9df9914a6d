//! `/proc/<pid>/stat` and `/proc/<pid>/status` (proc(5)).

/// The fields of `/proc/<pid>/stat` lxcfs needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    /// Field 3: state letter (`R`, `S`, `D`, `Z`, ...).
    pub state: char,
    /// Field 4: parent pid.
    pub ppid: u32,
    /// Field 22: start time after boot, in clock ticks (USER_HZ).
    pub starttime: u64,
}

/// Parses `/proc/<pid>/stat`. The command name may contain spaces and parentheses, so fields
/// are counted from the last `)`. `None` when malformed.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // f[0] is field 3 (state); field N is f[N - 3].
    Some(Stat {
        state: f.first()?.chars().next()?,
        ppid: f.get(1)?.parse().ok()?,
        starttime: f.get(19)?.parse().ok()?,
    })
}

/// The fields of `/proc/<pid>/status` lxcfs needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// `Tgid:` thread-group id (the process id).
    pub tgid: u32,
    /// `PPid:` parent process id (0 when the parent is outside the reader's pid namespace).
    pub ppid: u32,
    /// `NSpid:` the pid in each pid namespace from the reader's down to the innermost one.
    pub nspid: Vec<u32>,
    /// `State:` letter.
    pub state: char,
}

/// Parses `/proc/<pid>/status`; `None` when `Tgid:` is missing. A missing `NSpid:` (kernels
/// before 4.1) yields an empty list.
pub fn parse_status(text: &str) -> Option<Status> {
    let mut st = Status::default();
    let mut have_tgid = false;
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        match k {
            "Tgid" => {
                st.tgid = v.parse().ok()?;
                have_tgid = true;
            }
            "PPid" => st.ppid = v.parse().unwrap_or(0),
            "NSpid" => {
                st.nspid = v
                    .split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect()
            }
            "State" => st.state = v.chars().next().unwrap_or('?'),
            _ => {}
        }
    }
    have_tgid.then_some(st)
}

/// Parses a namespace link target such as `pid:[4026531836]` into its inode number.
pub fn parse_ns_link(target: &str) -> Option<u64> {
    let inner = target.split_once(":[")?.1.strip_suffix(']')?;
    inner.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_comm() {
        let t = "97 (my (weird) proc) S 1 97 97 0 -1 4194560 1 0 0 0 5 3 0 0 20 0 1 0 1234 0 0\n";
        let s = parse_stat(t).unwrap();
        assert_eq!(s.state, 'S');
        assert_eq!(s.ppid, 1);
        assert_eq!(s.starttime, 1234);
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) S 0"), None);
    }

    #[test]
    fn status_fields() {
        let t = "Name:\tsh\nState:\tS (sleeping)\nTgid:\t97\nPPid:\t1\nNSpid:\t97\t1\n";
        let s = parse_status(t).unwrap();
        assert_eq!(s.tgid, 97);
        assert_eq!(s.ppid, 1);
        assert_eq!(s.nspid, vec![97, 1]);
        assert_eq!(s.state, 'S');
        assert_eq!(parse_status("Name: x\n"), None);
    }

    #[test]
    fn ns_links() {
        assert_eq!(parse_ns_link("pid:[4026531836]"), Some(4026531836));
        assert_eq!(parse_ns_link("pid:4026531836"), None);
    }
}
