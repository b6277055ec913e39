//! Classification quality, case by case: the phenomena issue 4 names, each with a mail of
//! our own, run through the shipped rules and learned model.

use autosvar::classify::Category;
use autosvar::pipeline::assess;

use crate::common::setup;

fn mail(subject: &str, content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Test Person <test.person@regionh.example>\r\nTo: e-learning@example.test\r\nSubject: {subject}\r\nMessage-ID: <q-{}@regionh.example>\r\nMIME-Version: 1.0\r\nContent-Type: {content_type}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n",
        subject.len() + body.len()
    )
    .into_bytes()
}

fn text(subject: &str, body: &str) -> Vec<u8> {
    mail(subject, "text/plain; charset=utf-8", body)
}

fn check(cases: &[(&str, Vec<u8>, Category, Option<&str>)]) {
    let s = setup();
    let mut wrong = Vec::new();
    for (name, bytes, want, desk) in cases {
        let a = assess(bytes, &s.config, &s.classifier);
        let c = &a.classification;
        if c.category != *want || (desk.is_some() && c.desk.as_deref() != *desk) {
            wrong.push(format!(
                "{name}: want {want} {desk:?}, got {} {:?} ({:.2})",
                c.category, c.desk, c.confidence
            ));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn quoted_history_does_not_outvote_the_new_text() {
    check(&[(
        "quoted pricing answer, new camera problem",
        text(
            "SV: Hvad koster Zoom?",
            "Hej igen\n\nTak for svaret. Nu har jeg installeret Zoom, men kameraet er helt sort, og de andre kan ikke se mig.\n\nMvh Test\n\nFra: E-learning <e-learning@example.test>\nSendt: 3. marts 2026 10:12\nTil: Test Person\nEmne: Hvad koster Zoom?\n\nZoom er gratis i Softwareshoppen. Møder over 40 minutter og med flere end 100 deltagere kræver en enterprise-licens. Prisen og betingelserne for licensen får du ved at skrive til os.",
        ),
        Category::Technical,
        Some("cimt"),
    )]);
}

#[test]
fn subject_and_body_are_weighed_sensibly() {
    check(&[
        (
            "vague subject, clear body",
            text(
                "Spørgsmål",
                "Hvad koster det at få en licens, så vores møder kan vare mere end 40 minutter?",
            ),
            Category::Pricing,
            None,
        ),
        (
            "old subject in a reply, new question in the body",
            text(
                "Re: Adgang til Zoom",
                "Tak. Må vi så også bruge Zoom til samtaler med patienter og deres pårørende?",
            ),
            Category::Terms,
            None,
        ),
    ]);
}

#[test]
fn indirect_phrasing_is_understood() {
    check(&[
        (
            "longer than the free version allows",
            text(
                "Længere møder",
                "Kan vi holde møder, der varer længere end gratisversionen tillader?",
            ),
            Category::Pricing,
            None,
        ),
        (
            "cut off after 40 minutes",
            text(
                "Møder stopper",
                "Vores teammøder bliver afbrudt efter 40 minutter hver gang. Hvad gør vi?",
            ),
            Category::Pricing,
            None,
        ),
        (
            "english: more participants",
            text(
                "Large webinar",
                "We are planning an online event for about 250 people. What do we need to buy?",
            ),
            Category::Pricing,
            None,
        ),
    ]);
}

#[test]
fn a_mail_with_two_questions_picks_the_main_one_and_reports_the_other() {
    let s = setup();
    let bytes = text(
        "Licens til kursus",
        "Hej\n\nVi vil gerne købe en enterprise-licens til vores kursusforløb, så vi kan holde møder på to timer med 150 deltagere. Hvad koster licensen, og hvordan bestiller vi den?\n\nEt lille ekstra spørgsmål: må vi bruge den samme licens til webinarer med patienter?\n\nVenlig hilsen\nTest",
    );
    let a = assess(&bytes, &s.config, &s.classifier);
    assert_eq!(
        a.classification.category,
        Category::Pricing,
        "{:?}",
        a.classification.scores
    );
    assert_eq!(
        a.classification.secondary,
        Some(Category::Terms),
        "{:?}",
        a.classification.scores
    );
}

#[test]
fn html_only_and_forwarded_mails_use_their_real_text() {
    check(&[
        (
            "html only",
            mail(
                "Zoom",
                "text/html; charset=utf-8",
                "<html><head><style>p.MsoNormal{font-family:Calibri}</style></head><body><p class=MsoNormal>Hej</p><p class=MsoNormal>Min mikrofon virker ikke i Zoom p&aring; min pc &ndash; de andre kan ikke h&oslash;re mig.</p></body></html>",
            ),
            Category::Technical,
            Some("cimt"),
        ),
        (
            "inline forward with nothing of its own",
            text(
                "VS: Zoom til vores samarbejdspartnere",
                "---------- Forwarded message ---------\nFrom: Partner <p@partner.example>\nDate: Mon, 2 Mar 2026\nSubject: Zoom\nTo: Test <test.person@regionh.example>\n\nKan vores eksterne konsulenter få adgang til regionens Zoom, eller skal de bruge deres egen?",
            ),
            Category::Eligibility,
            None,
        ),
    ]);
}

#[test]
fn compounds_spellings_without_aeoeaa_and_typos() {
    check(&[
        (
            "compound, no æøå",
            text(
                "lydproblemer",
                "jeg har lydproblemer i zoom paa min pc, ingen kan hoere mig",
            ),
            Category::Technical,
            Some("cimt"),
        ),
        (
            "compound price",
            text("zoomlicens", "hvad er licensprisen for en zoomlicens?"),
            Category::Pricing,
            None,
        ),
        (
            "typo",
            text(
                "zoom",
                "zoom vil ikk starte paa min computer, den crasher hver gang",
            ),
            Category::Technical,
            Some("cimt"),
        ),
        (
            "no æøå terms",
            text(
                "patientsamtaler",
                "maa vi bruge zoom til samtaler med patienter om deres behandling?",
            ),
            Category::Terms,
            None,
        ),
    ]);
}

#[test]
fn desk_follows_the_announcement() {
    check(&[
        (
            "KU-ID login",
            text("Login", "Jeg kan ikke logge ind i Zoom med mit KU-ID."),
            Category::Technical,
            Some("kuit"),
        ),
        (
            "KU account",
            text(
                "KU-konto låst",
                "Min KU-konto er spærret, og jeg kan ikke komme på Zoom.",
            ),
            Category::Technical,
            Some("kuit"),
        ),
        (
            "KU's own Zoom",
            text(
                "Basic",
                "My KU Zoom account suddenly says Basic and my meetings stop after 40 minutes.",
            ),
            Category::Technical,
            Some("kuit"),
        ),
        (
            "client on region PC",
            text(
                "Zoom lukker",
                "Zoom lukker ned, hver gang jeg deler skærm på min arbejdscomputer.",
            ),
            Category::Technical,
            Some("cimt"),
        ),
        (
            "install from Softwareshoppen",
            text(
                "Installation",
                "Installationen af Zoom fra Softwareshoppen fejler med en fejlkode.",
            ),
            Category::Technical,
            Some("cimt"),
        ),
        (
            "audio and video",
            text(
                "Video",
                "The other participants cannot see my video and the sound is choppy.",
            ),
            Category::Technical,
            Some("cimt"),
        ),
    ]);
}

#[test]
fn a_short_thank_you_asks_nothing_but_thanks_with_a_problem_does() {
    check(&[
        (
            "thanks after a technical thread",
            text("SV: Kameraet virker ikke", "Tusind tak for hjælpen, nu virker det hele!\n\nBirthe\n\n> Prøv at genstarte Zoom og vælg kameraet under Indstillinger."),
            Category::Other,
            None,
        ),
        (
            "thanks, then a new problem",
            text("SV: Hvor finder jeg Zoom?", "Tak, jeg fandt den. Men installationen fejler hver gang med en fejlkode."),
            Category::Technical,
            Some("cimt"),
        ),
    ]);
}

#[test]
fn the_question_decides_over_what_is_only_told() {
    check(&[(
        "status report, then the question",
        text(
            "SV: Zoom crasher",
            "Tak for hjælpen sidst, nu virker det!\n\nEt andet spørgsmål: min nye kollega starter på mandag. Skal hun selv hente Zoom i Softwareshoppen, eller skal jeg som leder bestille det til hende?",
        ),
        Category::Eligibility,
        None,
    )]);
}
