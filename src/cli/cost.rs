//! `geoplan cost`: the month's cross-region transfer spend, from Cost Explorer or CUR.

use super::CostArgs;
use super::exit::{Exit, print_chain};
use super::{endpoint, load_config};

pub(super) async fn cost(args: CostArgs) -> Exit {
    let loaded = match load_config(&args.config) {
        Ok(l) => l,
        Err(exit) => return exit,
    };
    let now = std::time::SystemTime::now();
    let month = match args
        .month
        .as_deref()
        .map(str::parse::<crate::cost::budget::Month>)
    {
        Some(Ok(m)) => m,
        Some(Err(e)) => {
            eprintln!("error: --month {e}");
            return Exit::Usage;
        }
        None => crate::cost::budget::civil(now).0,
    };
    let report = match &args.cur {
        Some(path) => crate::cost::from_cur(&loaded.config, path, month, now),
        None => {
            let endpoint = endpoint(args.endpoint_url, &loaded.config);
            crate::cost::from_explorer(&loaded.config, endpoint.as_deref(), month, now).await
        }
    };
    let over = |r: &crate::cost::CostReport| {
        // Scripts act on the exit code: 7 once the month's budgeted spend reaches it.
        if r.budget.as_ref().is_some_and(|b| b.fraction >= 1.0) {
            Exit::OverBudget
        } else {
            Exit::Ok
        }
    };
    match report {
        Ok(r) if args.json => {
            println!(
                "{}",
                serde_json::to_string_pretty(&r).expect("serialisable")
            );
            over(&r)
        }
        Ok(r) => {
            print!("{}", crate::cost::render(&r));
            over(&r)
        }
        Err(e) => {
            print_chain(&e);
            Exit::Failure
        }
    }
}
