//! Issue 13: `history`, `status` and `release --json` on a ledger from a real-server run
//! (Dovecot over IMAPS, Postfix over STARTTLS): one mail answered, one whose reply Postfix
//! refuses with 550 (set aside). No report prints either sender's address.

use serde_json::Value;

use crate::harness::{append, question, Servers, Setup};

fn json_lines(out: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect()
}

pub fn history_status_and_release_answer_from_a_real_server_run(s: &Servers) {
    let hr = "hr-hist@example.test";
    let setup = Setup::default(s, hr, "");
    let ok_sender = "ok-hist@regionh.example";
    let refused = "reject-hist@regionh.example";
    append(
        s,
        hr,
        "INBOX",
        &[
            question(
                "hist1@regionh.example",
                ok_sender,
                hr,
                "Pris",
                "Hvad koster en licens?",
                "",
            ),
            question(
                "hist2@regionh.example",
                refused,
                hr,
                "Pris",
                "Hvad koster en licens?",
                "",
            ),
        ],
    );
    let (ok, out, err) = setup.run_once();
    assert!(ok, "{out}{err}");
    assert!(out.contains("replied pricing"), "{out}");
    assert!(out.contains("set-aside"), "{out}");

    let ask = |args: &[&str]| {
        let o = setup.cmd().args(args).output().expect("autosvar");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        o.stdout
    };
    let all = json_lines(&ask(&["history", "--json"]));
    assert_eq!(all.len(), 2, "{all:?}");
    let replied = all.iter().find(|m| m["outcome"] == "replied").unwrap();
    assert_eq!(replied["category"], "pricing");
    assert!(replied["key"]
        .as_str()
        .unwrap()
        .starts_with("hist1@regionh.example#"));
    // The source is the folder and UID the daemon logs.
    assert!(
        replied["source"]
            .as_str()
            .unwrap()
            .contains("/INBOX;uidvalidity="),
        "{replied}"
    );
    let aside = all.iter().find(|m| m["outcome"] == "set-aside").unwrap();
    let why = aside["why"].as_str().unwrap();
    assert!(why.contains("refused"), "{why}");
    let by_sender = json_lines(&ask(&["history", "--json", "--sender", ok_sender]));
    assert_eq!(by_sender.len(), 1);
    assert_eq!(by_sender[0]["key"], replied["key"]);

    let status: Value = serde_json::from_slice(&ask(&["status", "--json"])).unwrap();
    assert_eq!(status["today"]["total"], 2, "{status}");
    assert_eq!(status["today"]["replied"], 1, "{status}");
    assert_eq!(status["today"]["set-aside"], 1, "{status}");
    assert_eq!(status["pending"]["messages"], 0, "{status}");
    assert_eq!(status["set_aside"], 1, "{status}");
    assert_eq!(status["last_contact"]["what"], "imap connected", "{status}");
    assert_eq!(status["templates"]["on_disk"], true, "{status}");

    let listed = json_lines(&ask(&["release", "--json"]));
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["key"], aside["key"]);

    // The ledger has only hashes, and a reason a server gave is shown with any address
    // masked: no report names a sender.
    let text = [
        ask(&["history"]),
        ask(&["history", "--json"]),
        ask(&["status"]),
        ask(&["release"]),
    ]
    .concat();
    let text = String::from_utf8_lossy(&text);
    for address in [ok_sender, refused] {
        assert!(!text.contains(address), "{address} in {text}");
    }
}
