//! A region's verdict from several vantage points (pure): each control-plane instance
//! probes every region, and the actor acts on what a quorum of the *known* instances
//! says, so one host's network trouble cannot drain a healthy region.
//!
//! Taking a region out needs a majority of every instance known to the control tables
//! to say down: an instance that has gone silent counts as not-down, never as absent,
//! so an actor whose scans fail cannot decide on its own vote alone. Putting a region
//! back (or keeping it) needs a majority of the live ones to say up: it only returns a
//! region to the endpoint checks' guard, so silence need not block it.

use crate::control::verdict::Verdict;

/// The decided verdict of one region: `votes` are the live vantage points' verdicts
/// (this instance's included), `known` the instances the tables know of (at least the
/// number of votes). With one instance its own verdict decides, as before.
pub fn verdict(votes: &[Verdict], known: usize) -> Verdict {
    let known = known.max(votes.len());
    let count = |v: Verdict| votes.iter().filter(|x| **x == v).count();
    if votes.is_empty() {
        Verdict::Suspect
    } else if count(Verdict::Down) > known / 2 {
        Verdict::Down
    } else if count(Verdict::Up) > votes.len() / 2 {
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
    fn a_majority_of_known_instances_takes_out_a_majority_of_live_ones_keeps() {
        assert_eq!(
            verdict(&[Down], 1),
            Down,
            "one instance alone decides as before"
        );
        assert_eq!(verdict(&[Up], 1), Up);
        assert_eq!(
            verdict(&[Down, Up, Up], 3),
            Up,
            "one partitioned instance changes nothing"
        );
        assert_eq!(
            verdict(&[Down, Down, Up], 3),
            Down,
            "two of three take it out"
        );
        assert_eq!(verdict(&[Down, Up], 2), Suspect, "a tie acts on nothing");
        assert_eq!(verdict(&[Down, Suspect, Recovering], 3), Suspect);
        assert_eq!(verdict(&[Recovering, Up, Up], 3), Up);
        assert_eq!(verdict(&[], 3), Suspect);
        assert!(disagree(&[Down, Up, Up]));
        assert!(!disagree(&[Down, Suspect]));
    }

    /// Interleaving 7: when every scan failed, the actor's list of vantage points was
    /// empty and it decided on its own vote alone.
    #[test]
    fn silent_instances_count_as_not_down() {
        assert_eq!(
            verdict(&[Down], 3),
            Suspect,
            "alone of three, its down is not enough"
        );
        assert_eq!(
            verdict(&[Down, Down], 3),
            Down,
            "two live of three are a majority"
        );
        assert_eq!(verdict(&[Down, Down], 5), Suspect);
        assert_eq!(
            verdict(&[Up], 3),
            Up,
            "putting back needs the live ones only"
        );
    }
}
