//! A region's verdict from several vantage points (pure): each control-plane instance
//! probes every region, and the actor acts on what a quorum of the live instances
//! says, so one host's network trouble cannot drain a healthy region.

use crate::control::verdict::Verdict;

/// The verdicts of one region, one per live (fresh) vantage point.
///
/// Down when a quorum says down, up when a quorum says up; otherwise suspect, which
/// the failover logic never acts on. The quorum is a majority of the live vantage
/// points; with one (a single instance) its own verdict decides, as before.
pub fn verdict(votes: &[Verdict]) -> Verdict {
    let quorum = votes.len() / 2 + 1;
    let count = |v: Verdict| votes.iter().filter(|x| **x == v).count();
    if votes.is_empty() {
        Verdict::Suspect
    } else if count(Verdict::Down) >= quorum {
        Verdict::Down
    } else if count(Verdict::Up) >= quorum {
        Verdict::Up
    } else {
        Verdict::Suspect
    }
}

/// Whether the vantage points disagree (some say down, some up): exported as a metric
/// so that a partition shows before it matters.
pub fn disagree(votes: &[Verdict]) -> bool {
    votes.contains(&Verdict::Down) && votes.contains(&Verdict::Up)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Verdict::*;

    #[test]
    fn a_majority_of_live_vantages_decides() {
        assert_eq!(
            verdict(&[Down]),
            Down,
            "one instance alone decides as before"
        );
        assert_eq!(verdict(&[Up]), Up);
        assert_eq!(
            verdict(&[Down, Up, Up]),
            Up,
            "one partitioned instance changes nothing"
        );
        assert_eq!(verdict(&[Down, Down, Up]), Down, "two of three take it out");
        assert_eq!(verdict(&[Down, Up]), Suspect, "a tie acts on nothing");
        assert_eq!(verdict(&[Down, Suspect, Recovering]), Suspect);
        assert_eq!(verdict(&[Recovering, Up, Up]), Up);
        assert_eq!(verdict(&[]), Suspect);
        assert!(disagree(&[Down, Up, Up]));
        assert!(!disagree(&[Down, Suspect]));
    }
}
