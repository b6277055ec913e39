//! The mails a template preview can answer: a few shipped samples (a Danish and an English
//! question, a sender without a name, a very long name), and the most recent mails from the
//! ledger, rebuilt from what the ledger keeps of them (the CPR-free subject and the
//! language; never the sender, whom the ledger knows only as a hash). Pure but for the
//! ledger read in [`recent`].

use crate::ledger::{ActivityQuery, Ledger, LedgerError};

/// A sample's id (the form's value), its label and the mail's bytes.
pub(super) struct Sample {
    pub id: String,
    pub label: String,
}

const SHIPPED: [(&str, &str, &str, &str); 4] = [
    (
        "da",
        "Mette Jensen (dansk)",
        "Mette Jensen <mette.jensen@regionh.example>",
        "Subject: Zoom\r\nContent-Language: da\r\n\r\nHej, jeg har et spørgsmål om Zoom.\r\n",
    ),
    (
        "en",
        "John Smith (English)",
        "John Smith <john.smith@regionh.example>",
        "Subject: Question about Zoom\r\n\r\nHello, I have a question about Zoom.\r\n",
    ),
    (
        "noname",
        "Uden navn / no name",
        "sygeplejerske.afd7@regionh.example",
        "Subject: Zoom\r\n\r\nHej, jeg har et spørgsmål om Zoom.\r\n",
    ),
    (
        "longname",
        "Langt navn / long name",
        "Anne-Marie Kristine Østergaard-Vestergaard Christiansen <amkovc@regionh.example>",
        "Subject: Spørgsmål om Zoom Meetings og licenser til hele afdelingen i 2027\r\n\r\nHej, jeg har et spørgsmål om Zoom.\r\n",
    ),
];

/// The shipped samples and the `limit` most recent mails in the ledger.
pub(super) fn list(ledger: &Ledger, limit: u32) -> Result<Vec<Sample>, LedgerError> {
    let mut out: Vec<Sample> = SHIPPED
        .iter()
        .map(|(id, label, _, _)| Sample {
            id: format!("shipped:{id}"),
            label: (*label).to_string(),
        })
        .collect();
    for row in ledger.activity(&ActivityQuery {
        limit,
        ..ActivityQuery::default()
    })? {
        let subject: String = row.subject.unwrap_or_default().chars().take(60).collect();
        out.push(Sample {
            id: format!("recent:{}", row.key),
            label: format!(
                "{} · {}",
                super::activity::when(row.at),
                if subject.is_empty() {
                    "(-)".into()
                } else {
                    subject
                }
            ),
        });
    }
    Ok(out)
}

/// The bytes of the sample `id` (the first shipped one for an unknown id).
pub(super) fn mail(ledger: &Ledger, id: &str) -> Result<Vec<u8>, LedgerError> {
    if let Some(key) = id.strip_prefix("recent:") {
        if let Some(detail) = ledger.mail(key)? {
            let subject = detail.row.subject.unwrap_or_default();
            let lang = detail.row.language.map_or("da", |l| l.code());
            return Ok(build(
                "Kollega <kollega@regionh.example>",
                &format!(
                    "Subject: {}\r\nContent-Language: {lang}\r\n\r\n{}\r\n",
                    one_line(&subject),
                    if lang == "en" {
                        "Hello, I have a question about Zoom."
                    } else {
                        "Hej, jeg har et spørgsmål om Zoom."
                    }
                ),
            ));
        }
    }
    let wanted = id.strip_prefix("shipped:").unwrap_or("da");
    let (_, _, from, rest) = SHIPPED
        .iter()
        .find(|(i, ..)| *i == wanted)
        .unwrap_or(&SHIPPED[0]);
    Ok(build(from, rest))
}

fn one_line(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(200).collect()
}

fn build(from: &str, rest: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: e-learning@example.test\r\nMessage-ID: <sample.preview@regionh.example>\r\n\
         Date: Mon, 2 Mar 2026 09:15:00 +0100\r\nContent-Type: text/plain; charset=utf-8\r\n{rest}"
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_sample_parses_with_a_sender_and_subject() {
        let l = Ledger::in_memory().unwrap();
        let list = list(&l, 10).unwrap();
        assert_eq!(list.len(), SHIPPED.len());
        for s in list {
            let bytes = mail(&l, &s.id).unwrap();
            let m = crate::parse::parse(&bytes, crate::types::Language::Da);
            assert!(m.reply_address().is_some(), "{}", s.id);
        }
        assert_eq!(
            mail(&l, "nonsense").unwrap(),
            mail(&l, "shipped:da").unwrap()
        );
    }
}
