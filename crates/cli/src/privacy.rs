//! Personal data commands: erasure and legal holds.

use anyhow::{bail, Result};
use clap::Subcommand;
use countersign_proto::governance::{Erasure, HoldList, LegalHold, PlaceHold};
use reqwest::Method;

use crate::client::{seg, Client};
use crate::{print, ts};

#[derive(Subcommand)]
pub enum HoldCmd {
    /// Place a legal hold on an identity or a request: nothing it covers is
    /// erased until it is released.
    Place {
        #[arg(long, conflicts_with = "request")]
        identity: Option<String>,
        #[arg(long)]
        request: Option<String>,
        #[arg(long)]
        reason: String,
    },
    Release {
        id: String,
    },
    List,
}

fn hold_line(h: &LegalHold) -> String {
    let on = match (&h.identity, &h.request) {
        (Some(i), _) => format!("identity {i}"),
        (_, Some(r)) => format!("request {r}"),
        _ => "nothing".into(),
    };
    let state = match h.released_at {
        Some(t) => format!("released {}", ts(t)),
        None => "in force".into(),
    };
    format!(
        "{} on {on}, placed {} by {}, {state}: {}",
        h.id,
        ts(h.placed_at),
        h.placed_by,
        h.reason
    )
}

pub fn hold(c: &Client, json: bool, cmd: HoldCmd) -> Result<bool> {
    match cmd {
        HoldCmd::Place {
            identity,
            request,
            reason,
        } => {
            let path = match (identity, request) {
                (Some(i), None) => format!("/v1/identities/{}/holds", seg(&i)),
                (None, Some(r)) => format!("/v1/requests/{}/holds", seg(&r)),
                _ => bail!("name what the hold covers: --identity HANDLE or --request ID"),
            };
            let h: LegalHold = c.send_json(Method::POST, &path, &PlaceHold { reason })?;
            print(json, &h, hold_line)
        }
        HoldCmd::Release { id } => {
            let h: LegalHold = c.send_json(
                Method::POST,
                &format!("/v1/holds/{}/release", seg(&id)),
                &serde_json::json!({}),
            )?;
            print(json, &h, hold_line)
        }
        HoldCmd::List => {
            let l: HoldList = c.get("/v1/holds")?;
            print(json, &l, |l| {
                if l.holds.is_empty() {
                    return "no legal holds".into();
                }
                l.holds.iter().map(hold_line).collect::<Vec<_>>().join("\n")
            })
        }
    }
}

pub fn erase(c: &Client, json: bool, handle: &str) -> Result<bool> {
    let e: Erasure = c.send_json(
        Method::POST,
        &format!("/v1/identities/{}/erasure", seg(handle)),
        &serde_json::json!({}),
    )?;
    print(json, &e, |e| {
        let mut out = match e.log_index {
            Some(i) => format!(
                "erased {} personal value{} of {} (logged at index {i})",
                e.erased,
                if e.erased == 1 { "" } else { "s" },
                e.identity
            ),
            None => format!("nothing of {} could be erased yet", e.identity),
        };
        if e.kept > 0 {
            out.push_str(&format!("\nkept {}:", e.kept));
            for k in &e.kept_because {
                out.push_str(&format!("\n  {k}"));
            }
        }
        out
    })
}
