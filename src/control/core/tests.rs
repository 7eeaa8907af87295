//! The controller's interleavings as fixed schedules of inputs. Each names the
//! interleaving of the HA issue it pins; each was seen to fail with its fix undone.
use super::*;
use crate::control::cluster::Vantage;
use crate::control::lease::Record;
use crate::control::switches::SwitchError;

const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-northeast-1"];

fn t(ms: u64) -> Moment {
    Moment::at(Duration::from_millis(ms))
}

fn wall(ms: u64) -> SystemTime {
    std::time::UNIX_EPOCH + Duration::from_secs(1_800_000_000) + Duration::from_millis(ms)
}

const GATE: failback::Policy = failback::Policy {
    max_lag: Duration::from_secs(5),
    settle: Duration::from_secs(120),
    max_age: Duration::from_secs(125),
};

fn core(min_in_service: u32, out: &[usize]) -> Core {
    core_on(crate::config::SwitchPath::Route53, min_in_service, out)
}

/// `core` with switches of `path` (ARC's have no version: every read says 0).
fn core_on(path: crate::config::SwitchPath, min_in_service: u32, out: &[usize]) -> Core {
    core_with(path, min_in_service, out, false)
}

/// `core` with every region gated by the failback gate (replicated tables reach it).
fn core_gated(out: &[usize]) -> Core {
    core_with(crate::config::SwitchPath::Route53, 1, out, true)
}

/// The three regions at start-up: `out` switched off (for `cause`, since wall(0)).
fn inits(out: &[usize], cause: Cause, gated: bool) -> Vec<Init> {
    REGIONS
        .iter()
        .enumerate()
        .map(|(i, name)| Init {
            name: (*name).into(),
            checks: CheckIds {
                endpoint: format!("e{i}"),
                switch: format!("s{i}"),
                region: format!("c{i}"),
                control: None,
            },
            inverted: out.contains(&i),
            version: 1,
            stored: out.contains(&i).then(|| StoredSwitch {
                switch: out_of_service(cause, "down", wall(0)),
                last_action: Some(wall(0)),
            }),
            intent: None,
            gated,
        })
        .collect()
}

fn settings(several: bool, path: crate::config::SwitchPath, min_in_service: u32) -> Settings {
    Settings {
        thresholds: Thresholds {
            fail_after: 1,
            recover_after: 1,
        },
        policy: Policy {
            hold_down: Duration::ZERO,
            min_in_service,
            automatic: true,
        },
        several,
        path,
        failback: GATE,
    }
}

fn core_with(
    path: crate::config::SwitchPath,
    min_in_service: u32,
    out: &[usize],
    gated: bool,
) -> Core {
    let init = inits(out, Cause::Automatic, gated);
    let settings = settings(true, path, min_in_service);
    let (mut c, _) = Core::new(init, settings, "a", wall(0));
    // The actor, with two live peers that agree with whatever this one sees.
    c.handle(t(0), wall(0), Input::View(view(t(10_000))));
    let read = observed(t(1), &[(false, 1); 3].map(|s| s), out);
    c.handle(t(2), wall(2), Input::Observed(read));
    assert!(c.is_acting());
    c
}

/// An instance that has just become the actor and not yet read the switches.
fn core_unsynced() -> Core {
    let init = inits(&[], Cause::Automatic, false);
    let settings = settings(true, crate::config::SwitchPath::Route53, 1);
    let (mut c, _) = Core::new(init, settings, "a", wall(0));
    let e = c.handle(t(0), wall(0), Input::View(view(t(10_000))));
    assert!(e.contains(&Effect::ReadNow));
    c
}

fn view(until: Moment) -> View {
    View {
        actor_until: Some(until),
        epoch: Some(7),
        actor: Some(Record {
            holder: "a".into(),
            epoch: 7,
            version: 1,
            addr: "http://a".into(),
        }),
        vantages: Vec::new(),
        tables_reachable: 3,
        tables: 3,
        leadership_changes: 1,
        renew_latency: None,
        lease: Duration::from_secs(3),
        census: true,
    }
}

/// A read started at `started` showing each switch (inverted, version); `out`
/// marks inverted ones when `switches` says not.
fn observed(started: Moment, switches: &[(bool, i64); 3], out: &[usize]) -> Observed {
    Observed {
        started,
        regions: REGIONS
            .iter()
            .enumerate()
            .map(|(i, r)| RegionRead {
                region: (*r).into(),
                route53: Some(Ok(Some(true))),
                switch: Some(Ok((switches[i].0 || out.contains(&i), switches[i].1))),
            })
            .collect(),
        records: BTreeMap::new(),
        records_complete: true,
    }
}

fn probe(region: usize, ok: bool, ms: u64) -> Input {
    Input::Probe {
        region,
        probe: Probe {
            at: wall(ms),
            ok,
            latency: Duration::from_millis(1),
            error: (!ok).then(|| "refused".into()),
        },
    }
}

fn flips(effects: &[Effect]) -> Vec<(String, bool, i64, Moment)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Flip {
                region,
                out,
                version,
                deadline,
                ..
            } => Some((region.clone(), *out, *version, *deadline)),
            _ => None,
        })
        .collect()
}

/// eu-west-1's flip `id` came back at `ms` with `outcome`.
fn flipped(c: &mut Core, ms: u64, id: u64, outcome: FlipOutcome) -> Vec<Effect> {
    c.handle(
        t(ms),
        wall(ms),
        Input::Flipped {
            region: "eu-west-1".into(),
            flip: id,
            outcome,
            via: crate::config::SwitchPath::Route53,
        },
    )
}

fn flip_id(effects: &[Effect]) -> u64 {
    effects
        .iter()
        .find_map(|e| match e {
            Effect::Flip { flip, .. } => Some(*flip),
            _ => None,
        })
        .expect("a flip")
}

/// Interleaving 1: a flip carries the end of the actor's window as its deadline,
/// after which its driver neither sends it nor waits for it.
#[test]
fn a_flip_is_bounded_by_the_actors_window() {
    let mut c = core(1, &[]);
    let e = c.handle(t(100), wall(100), probe(1, false, 100));
    assert_eq!(flips(&e), [("eu-west-1".into(), true, 1, t(10_000))]);
}

/// Interleaving 2: the retry after a fenced flip used to be sent without a version.
/// Now no flip goes until a read started after the failure gives one.
#[test]
fn after_a_fenced_flip_nothing_is_sent_until_a_newer_read() {
    let mut c = core(1, &[]);
    let e = c.handle(t(100), wall(100), probe(1, false, 100));
    let id = flip_id(&e);
    let e = flipped(
        &mut c,
        200,
        id,
        FlipOutcome::NotLanded {
            error: SwitchError::Fenced("s1".into()).into(),
            fenced: true,
        },
    );
    assert!(e.contains(&Effect::ReadNow));
    assert!(
        e.contains(&Effect::ClearIntent {
            region: "eu-west-1".into()
        }),
        "interleaving 10: a flip that did not land leaves no intent behind"
    );
    let e = c.handle(t(300), wall(300), probe(1, false, 300));
    assert!(flips(&e).is_empty(), "no flip without a version: {e:?}");
    // A read that started before the failure says nothing.
    let e = c.handle(
        t(400),
        wall(400),
        Input::Observed(observed(t(150), &[(false, 1); 3], &[])),
    );
    assert!(flips(&e).is_empty());
    // One started after it shows someone's newer version; the flip is fenced on it.
    let e = c.handle(
        t(500),
        wall(500),
        Input::Observed(observed(t(250), &[(false, 1), (false, 5), (false, 1)], &[])),
    );
    assert_eq!(flips(&e), [("eu-west-1".into(), true, 5, t(10_000))]);
}

/// A flip never sent (it waited at the gate past its deadline) changed nothing: it is
/// decided again at once, with the renewed window's deadline, on the version it had. (In
/// a 30-region storm, such flips used to wait for a read of every switch.) A flip Route
/// 53 refused (AccessDenied, throttling) is not retried before a read.
#[test]
fn a_flip_never_sent_is_decided_again_without_a_read() {
    let mut c = core(1, &[]);
    let e = c.handle(t(100), wall(100), probe(1, false, 100));
    let id = flip_id(&e);
    // The window was renewed meanwhile; the driver reports the flip unsent at its end.
    c.handle(t(9_000), wall(9_000), Input::View(view(t(20_000))));
    let e = flipped(
        &mut c,
        10_000,
        id,
        FlipOutcome::NotLanded {
            error: SwitchError::NotSent.into(),
            fenced: false,
        },
    );
    assert!(!e.contains(&Effect::ReadNow), "{e:?}");
    assert_eq!(flips(&e), [("eu-west-1".into(), true, 1, t(20_000))]);
    // Refused by Route 53: no flip in the same step, a read first.
    let id = flip_id(&e);
    let refused =
        geoplan_error("AccessDenied: not authorized to perform route53:UpdateHealthCheck");
    let e = flipped(
        &mut c,
        10_100,
        id,
        FlipOutcome::NotLanded {
            error: refused,
            fenced: false,
        },
    );
    assert!(e.contains(&Effect::ReadNow), "{e:?}");
    assert!(flips(&e).is_empty(), "{e:?}");
}

/// An error Route 53 answered with, as `switches::flip` reports it.
fn geoplan_error(summary: &str) -> crate::control::switches::FlipError {
    SwitchError::Api(crate::aws::CallError {
        summary: summary.into(),
        detail: crate::aws::Detail(summary.into()),
    })
    .into()
}

/// Interleaving 3: a read that started before a take-out and came back after it was
/// confirmed used to be adopted as "restored outside geoplan".
#[test]
fn a_stale_read_never_undoes_a_confirmed_flip() {
    let mut c = core(1, &[]);
    let e = c.handle(t(100), wall(100), probe(1, false, 100));
    let id = flip_id(&e);
    flipped(&mut c, 200, id, FlipOutcome::Done { version: 2 });
    let e = c.handle(
        t(300),
        wall(300),
        Input::Observed(observed(t(50), &[(false, 1); 3], &[])),
    );
    assert!(!c.regions()[1].switch.in_service, "still out: {e:?}");
    assert!(
        !e.iter().any(|e| matches!(
            e,
            Effect::Event {
                kind: "adopted",
                ..
            }
        )),
        "{e:?}"
    );
}

/// Interleaving 4: a put-back in flight used to count as in service for the guard;
/// if it then failed, fewer than `min_in_service` regions were left.
#[test]
fn a_put_back_counts_only_once_confirmed() {
    // us-east-1 is out (automatic) and recovers; eu-west-1 then goes down.
    let mut c = core(2, &[0]);
    let e = c.handle(t(100), wall(100), probe(0, true, 100));
    assert_eq!(flips(&e), [("us-east-1".into(), false, 1, t(10_000))]);
    let e = c.handle(t(200), wall(200), probe(1, false, 200));
    assert!(flips(&e).is_empty(), "only two count as in service: {e:?}");
    assert!(
        e.iter().any(|e| matches!(
            e,
            Effect::Event {
                kind: "refused",
                ..
            }
        )),
        "{e:?}"
    );
}

/// Interleaving 5: a drain of a region already out was recorded only in the local
/// store; the next actor copied the tables' "automatic" over it.
#[test]
fn a_drain_of_a_region_already_out_is_acknowledged_once_the_tables_have_it() {
    let mut c = core(1, &[2]);
    let e = c.handle(
        t(100),
        wall(100),
        Input::Request {
            id: 9,
            request: Request::Drain {
                region: "ap-northeast-1".into(),
                reason: "maintenance".into(),
            },
        },
    );
    let record = e
        .iter()
        .find_map(|e| match e {
            Effect::Record { record, .. } => Some(record.clone()),
            _ => None,
        })
        .expect("recorded in the tables");
    assert_eq!(record.switch.cause, Some(Cause::Manual));
    assert_eq!(record.epoch, 7);
    assert!(
        !e.iter().any(|e| matches!(e, Effect::Reply { .. })),
        "not acknowledged yet"
    );
    let e = c.handle(
        t(200),
        wall(200),
        Input::Recorded {
            region: "ap-northeast-1".into(),
            seq: record.seq,
            ok: false,
        },
    );
    assert!(!e.iter().any(|e| matches!(e, Effect::Reply { .. })));
    let e = c.handle(t(800), wall(800), Input::Tick);
    assert!(
        e.iter().any(|e| matches!(e, Effect::Record { .. })),
        "retried: {e:?}"
    );
    let e = c.handle(
        t(900),
        wall(900),
        Input::Recorded {
            region: "ap-northeast-1".into(),
            seq: record.seq,
            ok: true,
        },
    );
    assert!(
        e.iter().any(|e| matches!(e, Effect::Reply { id: 9, result: Ok(s) } if s.cause == Some(Cause::Manual))),
        "{e:?}"
    );
}

/// Interleaving 7 at the controller: the peers are known but silent (every scan
/// failed): this instance's own "down" is not a quorum.
#[test]
fn silent_peers_keep_a_lone_down_from_acting() {
    let mut c = core(1, &[]);
    let mut v = view(t(10_000));
    v.vantages = ["b", "c"]
        .map(|p| Vantage {
            instance: p.into(),
            addr: format!("http://{p}"),
            verdicts: BTreeMap::new(),
            heard_at: None,
            fresh: false,
        })
        .to_vec();
    c.handle(t(50), wall(50), Input::View(v));
    let e = c.handle(t(100), wall(100), probe(1, false, 100));
    assert!(flips(&e).is_empty(), "{e:?}");
    assert_eq!(c.regions()[1].decided, Verdict::Suspect);
}

/// A flip whose answer was lost may have landed: it counts as done for the guard
/// until a read started after its deadline tells.
#[test]
fn an_unknown_flip_is_resolved_by_a_read_after_its_deadline() {
    let mut c = core(2, &[]);
    let e = c.handle(t(100), wall(100), probe(1, false, 100));
    let id = flip_id(&e);
    flipped(
        &mut c,
        200,
        id,
        FlipOutcome::Unknown {
            error: SwitchError::NoAnswer.into(),
        },
    );
    // Meanwhile another region goes down: the unknown take-out counts.
    let e = c.handle(t(300), wall(300), probe(2, false, 300));
    assert!(flips(&e).is_empty(), "{e:?}");
    // A read before the deadline is not evidence.
    c.handle(
        t(400),
        wall(400),
        Input::Observed(observed(t(300), &[(false, 1), (true, 2), (false, 1)], &[])),
    );
    assert!(c.in_flight().any(|r| r == "eu-west-1"));
    // Nor is one started before the flip could still land (its deadline + lease/3).
    let e = c.handle(t(10_001), wall(10_001), Input::Tick);
    assert!(!e.contains(&Effect::ReadNow));
    c.handle(
        t(10_500),
        wall(10_500),
        Input::Observed(observed(
            t(10_400),
            &[(false, 1), (true, 2), (false, 1)],
            &[],
        )),
    );
    assert!(c.in_flight().any(|r| r == "eu-west-1"));
    let e = c.handle(t(11_001), wall(11_001), Input::Tick);
    assert!(e.contains(&Effect::ReadNow));
    let e = c.handle(
        t(11_100),
        wall(11_100),
        Input::Observed(observed(
            t(11_050),
            &[(false, 1), (true, 2), (false, 1)],
            &[],
        )),
    );
    assert!(!c.regions()[1].switch.in_service, "it landed: {e:?}");
    assert!(e.iter().any(|e| matches!(e, Effect::Event { kind: "failover", message, .. } if message.contains("a later read"))), "{e:?}");
}

/// Sim seed 70251: the driver carried a flip on past the deadline decided here (into a
/// later window of the same epoch), and its answer was lost. A read started after the
/// decided deadline but before the call ended said "not landed"; the flip then landed,
/// and the guard took a second region out. The flip now settles from when its outcome
/// came.
#[test]
fn an_unknown_flip_that_ran_past_its_deadline_settles_from_its_end() {
    let mut c = core(2, &[]);
    let e = c.handle(t(100), wall(100), probe(1, false, 100));
    let id = flip_id(&e);
    // The window was renewed; the driver let the call run to its end, at 14 s.
    flipped(
        &mut c,
        14_000,
        id,
        FlipOutcome::Unknown {
            error: SwitchError::NoAnswer.into(),
        },
    );
    // A read started after the decided deadline (10 s) + lease/3, but before the call
    // ended, is no evidence.
    c.handle(
        t(14_100),
        wall(14_100),
        Input::Observed(observed(t(11_500), &[(false, 1); 3], &[])),
    );
    assert!(c.in_flight().any(|r| r == "eu-west-1"));
    assert_eq!(c.quiet_until(), Some(t(15_000)));
    // One started a margin after the call ended is.
    let e = c.handle(t(15_001), wall(15_001), Input::Tick);
    assert!(e.contains(&Effect::ReadNow), "{e:?}");
    c.handle(
        t(15_200),
        wall(15_200),
        Input::Observed(observed(t(15_100), &[(false, 1); 3], &[])),
    );
    assert!(!c.in_flight().any(|r| r == "eu-west-1"));
    assert!(c.regions()[1].switch.in_service);
}

#[test]
fn reconciliation_keeps_known_causes_and_treats_unknown_ones_as_manual() {
    let now = wall(0);
    let auto = StoredSwitch {
        switch: out_of_service(Cause::Automatic, "down", now),
        last_action: Some(now),
    };
    let a = reconcile("a", true, 3, Some(&auto), None, now);
    assert_eq!(
        (a.switch.cause, a.last_action, a.note),
        (Some(Cause::Automatic), Some(now), None)
    );
    let b = reconcile("b", true, 3, None, None, now);
    assert_eq!(
        b.switch.cause,
        Some(Cause::Manual),
        "found off with no record: never undone automatically"
    );
    assert!(b.note.is_some());
    let c = reconcile("a", false, 3, Some(&auto), None, now);
    assert!(c.switch.in_service, "Route 53 is the truth for in/out");
    assert!(c.note.is_some());
}

#[test]
fn reconciliation_recognises_geoplans_own_unconfirmed_flips_by_their_version() {
    let now = wall(0);
    let intent = Intent {
        switch: out_of_service(Cause::Automatic, "eu-west-1 is down", now),
        at: now,
        base_version: Some(4),
    };
    let landed = reconcile("a", true, 5, None, Some(&intent), now);
    assert_eq!(
        landed.switch.cause,
        Some(Cause::Automatic),
        "not mistaken for a manual drain"
    );
    assert!(landed.cleared_intent);
    assert_eq!(
        landed.note.as_deref(),
        Some(
            "a: geoplan's own take-out reached its switch but was not confirmed before; recorded as done"
        )
    );
    // Out at the version it was fenced on: not this flip's doing.
    let other = reconcile("a", true, 4, None, Some(&intent), now);
    assert_eq!(other.switch.cause, Some(Cause::Manual));
    assert!(other.cleared_intent);
    // An intent that never took effect changes nothing.
    let none = reconcile("c", false, 4, None, Some(&intent), now);
    assert!(none.switch.in_service && none.note.is_none() && none.cleared_intent);
}

/// Finding of the review: an unknown flip of an earlier epoch is not confirmed (and
/// recorded) under a later one; the records say whose the change was.
#[test]
fn an_unknown_flip_of_an_earlier_epoch_is_not_confirmed_under_a_later_one() {
    let mut c = core(1, &[]);
    let e = c.handle(t(100), wall(100), probe(1, false, 100));
    let id = flip_id(&e);
    flipped(
        &mut c,
        200,
        id,
        FlipOutcome::Unknown {
            error: SwitchError::NoAnswer.into(),
        },
    );
    // The lease changes hands and comes back in a later epoch.
    let mut v = view(t(30_000));
    v.epoch = Some(9);
    c.handle(t(20_000), wall(20_000), Input::View(v));
    let mut read = observed(t(20_100), &[(false, 1), (true, 3), (false, 1)], &[]);
    read.records.insert(
        "eu-west-1".into(),
        SwitchRecord {
            switch: out_of_service(Cause::Manual, "maintenance", wall(15_000)),
            epoch: 8,
            seq: 1,
            instance: "b".into(),
        },
    );
    let e = c.handle(t(20_200), wall(20_200), Input::Observed(read));
    assert!(
        !e.iter().any(|e| matches!(e, Effect::Record { .. })),
        "{e:?}"
    );
    assert_eq!(
        c.regions()[1].switch.cause,
        Some(Cause::Manual),
        "the successor's drain stands: {e:?}"
    );
}

/// Finding of the review: until a majority of tables has been scanned, the quorum's
/// base is unknown and a lone "down" decides nothing.
#[test]
fn no_take_out_before_the_census() {
    let mut c = core(1, &[]);
    let mut v = view(t(10_000));
    v.census = false;
    c.handle(t(50), wall(50), Input::View(v));
    let e = c.handle(t(100), wall(100), probe(1, false, 100));
    assert!(flips(&e).is_empty(), "{e:?}");
}

/// Finding of the review: a sync read from a minority of tables may miss the newest
/// record: the new actor reads again rather than act on it.
#[test]
fn a_sync_from_a_minority_of_tables_is_no_sync() {
    let init = core(1, &[]);
    drop(init);
    let mut c = core_unsynced();
    let mut read = observed(t(1), &[(false, 1); 3], &[]);
    read.records_complete = false;
    c.handle(t(2), wall(2), Input::Observed(read));
    assert!(!c.is_acting());
    let e = c.handle(t(1_100), wall(1_100), Input::Tick);
    assert!(
        e.contains(&Effect::ReadNow),
        "asks again after a second: {e:?}"
    );
    c.handle(
        t(1_200),
        wall(1_200),
        Input::Observed(observed(t(1_150), &[(false, 1); 3], &[])),
    );
    assert!(c.is_acting());
}

/// An ARC routing control has no version (reads say 0): an unknown take-out is taken
/// as landed by a read, started after it settled, that shows the control Off, and its
/// write-ahead intent carries no version, so reconciliation goes by the state alone.
/// With versions (Route 53), the same read at the same version means it did not land.
#[test]
fn an_unknown_arc_flip_is_told_landed_by_its_state_alone() {
    for (path, landed) in [
        (crate::config::SwitchPath::Arc, true),
        (crate::config::SwitchPath::Route53, false),
    ] {
        let mut c = core_on(path, 2, &[]);
        let e = c.handle(t(100), wall(100), probe(1, false, 100));
        let intent = e.iter().find_map(|e| match e {
            Effect::SaveIntent { intent, .. } => Some(intent.clone()),
            _ => None,
        });
        assert_eq!(
            intent.and_then(|i| i.base_version),
            (path == crate::config::SwitchPath::Route53).then_some(1),
            "{path:?}"
        );
        let id = flip_id(&e);
        flipped(
            &mut c,
            200,
            id,
            FlipOutcome::Unknown {
                error: SwitchError::NoAnswer.into(),
            },
        );
        let e = c.handle(t(11_001), wall(11_001), Input::Tick);
        assert!(e.contains(&Effect::ReadNow));
        let e = c.handle(
            t(11_100),
            wall(11_100),
            Input::Observed(observed(
                t(11_050),
                &[(false, 1), (true, 1), (false, 1)],
                &[],
            )),
        );
        let confirmed = e.iter().any(|e| matches!(e, Effect::Event { kind: "failover", message, .. } if message.contains("a later read")));
        assert_eq!(confirmed, landed, "{path:?}: {e:?}");
    }
}

/// Interleaving 3 on unversioned switches (ARC): a read that started before a take-out
/// was confirmed, and shows the control still On, must not undo the take-out: with no
/// version to tell, the read's start is compared with the confirmation.
#[test]
fn a_stale_read_never_undoes_a_confirmed_arc_flip() {
    let mut c = core_on(crate::config::SwitchPath::Arc, 1, &[]);
    let e = c.handle(t(100), wall(100), probe(1, false, 100));
    let id = flip_id(&e);
    flipped(&mut c, 200, id, FlipOutcome::Done { version: 0 });
    let e = c.handle(
        t(300),
        wall(300),
        Input::Observed(observed(t(50), &[(false, 0); 3], &[])),
    );
    assert!(!c.regions()[1].switch.in_service, "still out: {e:?}");
    // A read started after it is believed: here, someone turned the control back On.
    let e = c.handle(
        t(500),
        wall(500),
        Input::Observed(observed(t(400), &[(false, 0); 3], &[])),
    );
    assert!(c.regions()[1].switch.in_service, "{e:?}");
}

/// `switch = "both"`: a flip Route 53 confirmed at its version (5) must not make every
/// later read (version 0: the routing control has none) look stale; the core keeps
/// no version on an unversioned path.
#[test]
fn with_both_a_route53_version_does_not_hide_later_reads() {
    let mut c = core_on(crate::config::SwitchPath::Both, 1, &[]);
    let e = c.handle(t(100), wall(100), probe(1, false, 100));
    let id = flip_id(&e);
    flipped(&mut c, 200, id, FlipOutcome::Done { version: 5 });
    assert!(!c.regions()[1].switch.in_service);
    let e = c.handle(
        t(500),
        wall(500),
        Input::Observed(observed(t(400), &[(false, 0); 3], &[])),
    );
    assert!(
        c.regions()[1].switch.in_service,
        "a later read showing it back in service is believed: {e:?}"
    );
}

/// A round of the replication watcher at `ms` for eu-west-1 (and `carts` out of it):
/// 60 s periods over the last 300 s, each with `lag` seconds into the region and a
/// write, and `out_lag` seconds out of it read 20 s before the round.
fn replication(ms: u64, lag: Option<f64>, out_lag: f64) -> Input {
    let at = wall(ms);
    let from = at - Duration::from_secs(300);
    let inbound = failback::Reading {
        at,
        from,
        period: Duration::from_secs(60),
        tables: vec![failback::TableReading {
            table: "shop-carts".into(),
            replica: Ok("ACTIVE".into()),
            periods: (0..5)
                .map(|i| failback::Period {
                    start: from + Duration::from_secs(60 * i),
                    lag,
                    writes: 1.0,
                    stalled: lag.is_none_or(|l| l == 0.0).then(|| "us-east-1".to_owned()),
                })
                .collect(),
            unread: Vec::new(),
        }],
    };
    let outbound = vec![failback::TableLag {
        table: "shop-carts".into(),
        lag_seconds: Some(out_lag),
        age_seconds: Some(20.0),
    }];
    Input::Replication(
        [(
            "eu-west-1".to_owned(),
            RegionReplication { inbound, outbound },
        )]
        .into(),
    )
}

fn events_of<'a>(effects: &'a [Effect], kind: &str) -> Vec<&'a str> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Event {
                kind: k, message, ..
            } if *k == kind => Some(message.as_str()),
            _ => None,
        })
        .collect()
}

fn recovered(effects: &[Effect]) -> Option<failback::Recovery> {
    effects.iter().find_map(|e| match e {
        Effect::Recovered { recovery, .. } => Some(recovery.clone()),
        _ => None,
    })
}

/// Failback gate: a region that is up again stays out while its replication is not
/// known, then while it lags; it returns once the lag settled, and the put-back
/// records how long it was out and how long the gate held it.
#[test]
fn a_put_back_waits_for_the_failback_gate() {
    let mut c = core_gated(&[1]);
    // Up again, nothing read yet: unknown holds it, said once.
    let e = c.handle(t(1_000), wall(1_000), probe(1, true, 1_000));
    assert!(flips(&e).is_empty(), "{e:?}");
    let held = events_of(&e, "failback-held");
    assert_eq!(held.len(), 1, "{e:?}");
    assert!(held[0].contains("has not been read yet"), "{}", held[0]);
    let e = c.handle(t(1_500), wall(1_500), probe(1, true, 1_500));
    assert!(flips(&e).is_empty() && events_of(&e, "failback-held").is_empty());
    // Lagging: still held, now saying why.
    let e = c.handle(t(2_000), wall(2_000), replication(2_000, Some(12.0), 0.5));
    assert!(flips(&e).is_empty());
    assert!(
        events_of(&e, "failback-held")[0].contains("lagged 12.0 s"),
        "{e:?}"
    );
    let r = &c.regions()[1];
    assert!(matches!(
        r.failback,
        Some(Gate::Held {
            why: failback::Why::Lagging,
            ..
        })
    ));
    // Settled below the limit: put back.
    let e = c.handle(t(4_000), wall(4_000), replication(4_000, Some(0.3), 0.5));
    let id = flip_id(&e);
    assert!(!flips(&e)[0].1, "a put-back");
    let e = flipped(&mut c, 4_200, id, FlipOutcome::Done { version: 2 });
    let rec = recovered(&e).expect("recovery figures");
    assert_eq!(rec.kind, "failback");
    assert_eq!(rec.held_for, Some(Duration::from_millis(3_000)));
    assert_eq!(rec.out_for, Some(Duration::from_millis(4_200)));
    let text = events_of(&e, "failback")[0];
    assert!(text.contains("held by the failback gate 3.0 s"), "{text}");
    assert!(c.regions()[1].failback.is_none(), "in service: no gate");
}

/// Failback gate: zero lag while writes are replicated is unknown (possibly stalled),
/// and a reading older than `max_age` says nothing.
#[test]
fn zero_lag_with_writes_and_a_stale_reading_hold_the_region() {
    let mut c = core_gated(&[1]);
    c.handle(t(1_000), wall(1_000), probe(1, true, 1_000));
    let e = c.handle(t(1_100), wall(1_100), replication(1_100, Some(0.0), 0.5));
    assert!(flips(&e).is_empty());
    // Unknown still, for another reason: said once per kind of reason (the first,
    // "not read yet", was said), shown in the region's gate.
    assert!(events_of(&e, "failback-held").is_empty(), "{e:?}");
    match &c.regions()[1].failback {
        Some(Gate::Held { why, message }) => {
            assert_eq!(*why, failback::Why::Unknown);
            assert!(message.contains("may have stalled"), "{message}");
        }
        other => panic!("held: {other:?}"),
    }

    let mut c = core_gated(&[1]);
    c.handle(t(500), wall(500), replication(500, Some(0.2), 0.5));
    let late = 500 + GATE.max_age.as_millis() as u64 + 1;
    c.handle(t(late), wall(late), Input::View(view(t(late + 10_000))));
    let e = c.handle(t(late), wall(late), probe(1, true, late));
    assert!(flips(&e).is_empty(), "{e:?}");
    assert!(events_of(&e, "failback-held")[0].contains("s old"), "{e:?}");
    // At max_age exactly it still counts.
    let mut c = core_gated(&[1]);
    c.handle(t(500), wall(500), replication(500, Some(0.2), 0.5));
    let edge = 500 + GATE.max_age.as_millis() as u64;
    c.handle(t(edge), wall(edge), Input::View(view(t(edge + 10_000))));
    let e = c.handle(t(edge), wall(edge), probe(1, true, edge));
    assert_eq!(flips(&e).len(), 1, "{e:?}");
}

/// Restore through the gate: refused while it holds, unless forced with a reason,
/// which is recorded.
#[test]
fn a_restore_is_refused_by_the_gate_unless_forced_with_a_reason() {
    let mut c = core_gated(&[1]);
    let restore = |force: Option<&str>| Input::Request {
        id: 9,
        request: Request::Restore {
            region: "eu-west-1".into(),
            force: force.map(str::to_owned),
        },
    };
    let e = c.handle(t(1_000), wall(1_000), restore(None));
    assert!(flips(&e).is_empty());
    assert!(
        e.iter().any(
            |e| matches!(e, Effect::Reply { id: 9, result: Err(CommandError::Refused(why)) }
            if why.contains("the failback gate holds eu-west-1") && why.contains("--force"))
        ),
        "{e:?}"
    );
    let e = c.handle(t(2_000), wall(2_000), restore(Some("  ")));
    assert!(flips(&e).is_empty(), "a blank reason does not force");
    let e = c.handle(
        t(3_000),
        wall(3_000),
        restore(Some("replicas checked by hand")),
    );
    assert_eq!(flips(&e).len(), 1, "{e:?}");
    let forced = events_of(&e, "failback-forced");
    assert!(
        forced[0].contains("forced past the failback gate: replicas checked by hand"),
        "{e:?}"
    );
    assert!(forced[0].contains("has not been read yet"), "{}", forced[0]);
    let e = flipped(&mut c, 3_100, flip_id(&e), FlipOutcome::Done { version: 2 });
    assert_eq!(
        recovered(&e).unwrap().held_for,
        Some(Duration::from_millis(2_000))
    );
}

/// Recovery figures of a take-out: the time from the first failed probe to the
/// confirmation, and the lag out of the region as last read, aged to that moment.
#[test]
fn a_take_out_records_its_recovery_time_and_point() {
    let mut c = core_gated(&[]);
    c.handle(t(500), wall(500), replication(500, Some(0.2), 1.5));
    let e = c.handle(t(1_000), wall(1_000), probe(1, false, 1_000));
    let id = flip_id(&e);
    let e = flipped(&mut c, 1_750, id, FlipOutcome::Done { version: 2 });
    let rec = recovered(&e).expect("figures");
    assert_eq!(rec.kind, "failover");
    assert_eq!(rec.recovery_time, Some(Duration::from_millis(750)));
    assert_eq!(rec.recovery_point.len(), 1);
    assert_eq!(rec.recovery_point[0].lag_seconds, Some(1.5));
    // Read 20 s before the round, which came 1.25 s before the take-out.
    assert_eq!(rec.recovery_point[0].age_seconds, Some(21.25));
    let text = events_of(&e, "failover")[0];
    assert!(
        text.contains("recovery point: shop-carts 1.5 s (read 21 s before)"),
        "{text}"
    );
    // Ungated regions have no recovery point, and say nothing of one.
    let mut c = core(1, &[]);
    let e = c.handle(t(1_000), wall(1_000), probe(1, false, 1_000));
    let e = flipped(&mut c, 1_200, flip_id(&e), FlipOutcome::Done { version: 2 });
    let rec = recovered(&e).unwrap();
    assert!(rec.recovery_point.is_empty() && !rec.replicated);
    assert!(!events_of(&e, "failover")[0].contains("recovery point"));
}

/// A confirmed take-out asks for DNS to be watched; the answer leaving the region gives
/// its DNS time, from the first failed probe; one still holding it is reported; an
/// unobservable one says nothing.
#[test]
fn a_take_out_is_timed_to_the_dns_answer_where_observable() {
    let mut c = core(1, &[]);
    let e = c.handle(t(1_000), wall(1_000), probe(1, false, 1_000));
    let e = flipped(&mut c, 1_400, flip_id(&e), FlipOutcome::Done { version: 2 });
    assert!(e.contains(&Effect::WatchDns {
        region: "eu-west-1".into(),
        since: wall(1_000),
    }));
    let dns = |outcome| Input::Dns {
        region: "eu-west-1".into(),
        outcome,
    };
    let e = c.handle(t(3_100), wall(3_100), dns(DnsOutcome::Left(wall(3_000))));
    assert!(
        e.contains(&Effect::DnsRecovered {
            region: "eu-west-1".into(),
            kind: "failover",
            took: Duration::from_millis(2_000),
        }),
        "{e:?}"
    );
    let text = events_of(&e, "dns")[0];
    assert_eq!(
        text,
        "eu-west-1 left the DNS answer 2.00 s after the first failed probe (1.60 s after the switch was confirmed)"
    );
    let rec = c.regions()[1].recovery.clone().unwrap();
    assert_eq!(rec.dns_time, Some(Duration::from_millis(2_000)));
    // A second answer changes nothing: the first one counted.
    let e = c.handle(t(3_200), wall(3_200), dns(DnsOutcome::Left(wall(3_150))));
    assert!(events_of(&e, "dns").is_empty());

    let mut c = core(1, &[]);
    let e = c.handle(t(1_000), wall(1_000), probe(1, false, 1_000));
    flipped(&mut c, 1_400, flip_id(&e), FlipOutcome::Done { version: 2 });
    let e = c.handle(t(9_000), wall(9_000), dns(DnsOutcome::Unobservable));
    assert!(e.is_empty(), "{e:?}");

    let mut c = core(1, &[]);
    let e = c.handle(t(1_000), wall(1_000), probe(1, false, 1_000));
    flipped(&mut c, 1_400, flip_id(&e), FlipOutcome::Done { version: 2 });
    let e = c.handle(
        t(9_100),
        wall(9_100),
        dns(DnsOutcome::Stayed(Duration::from_secs(60))),
    );
    assert_eq!(
        events_of(&e, "dns"),
        ["eu-west-1 was still in the DNS answer 60 s after its switch was confirmed"]
    );
    assert_eq!(c.regions()[1].recovery.as_ref().unwrap().dns_time, None);
}

#[test]
fn the_dns_watch_records_how_it_ended() {
    for (outcome, said) in [
        (DnsOutcome::Left(wall(2_000)), "left"),
        (DnsOutcome::Stayed(Duration::from_secs(60)), "stayed"),
        (DnsOutcome::Unobservable, "unobservable"),
    ] {
        let mut c = core(1, &[]);
        let e = c.handle(t(1_000), wall(1_000), probe(1, false, 1_000));
        flipped(&mut c, 1_400, flip_id(&e), FlipOutcome::Done { version: 2 });
        assert_eq!(c.regions()[1].recovery.as_ref().unwrap().dns_outcome, None);
        c.handle(
            t(3_000),
            wall(3_000),
            Input::Dns {
                region: "eu-west-1".into(),
                outcome,
            },
        );
        assert_eq!(
            c.regions()[1].recovery.as_ref().unwrap().dns_outcome,
            Some(said)
        );
    }
}

/// A lone instance acts at once: a restore that is its very first input still meets
/// the gate (evaluated on the request itself, not only on the inputs before it).
#[test]
fn a_restore_as_the_first_input_of_a_lone_instance_meets_the_gate() {
    let init = inits(&[1], Cause::Manual, true);
    let settings = settings(false, crate::config::SwitchPath::Route53, 1);
    let (mut c, _) = Core::new(init, settings, "", wall(0));
    let e = c.handle(
        t(10),
        wall(10),
        Input::Request {
            id: 1,
            request: Request::Restore {
                region: "eu-west-1".into(),
                force: None,
            },
        },
    );
    assert!(flips(&e).is_empty(), "{e:?}");
    assert!(
        e.iter().any(|e| matches!(
            e,
            Effect::Reply {
                id: 1,
                result: Err(CommandError::Refused(_))
            }
        )),
        "{e:?}"
    );
}
