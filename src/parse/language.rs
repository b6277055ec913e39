//! Tells which language a mail is written in, by counting common words and letters.
//!
//! A mail is short and informal, so n-gram models buy little here; the words every writer
//! uses (pronouns, prepositions, greetings, sign-offs) and a few letters carry the signal.
//! Each language has a list of such words; a word scores for every language whose list has
//! it, so the words Danish shares with Norwegian (or Swedish with both) weigh the same on
//! each side, and what tells them apart decides: "hvad", "af", "noget", "tak" against
//! "hva", "av", "noe", "takk" against "vad", "och", "tack"; Nynorsk has "eg", "ikkje",
//! "kva". Letters add a little (æ/ø for Danish and Norwegian, ä/ö for Swedish, German and
//! Finnish, ü/ß for German, Polish's own letters). A tie between Danish and anything goes
//! to Danish (the mailbox is Danish), then to English; no evidence at all is `None`, and the
//! caller falls back to the configured default.
//!
//! The languages told apart are those of [`Written`]: Danish, English, Swedish, Norwegian
//! (Bokmål and Nynorsk), German, French, Dutch, Spanish, Italian, Polish and Finnish. Which
//! language a reply is written in is decided from this by [`crate::types::Replies`]; this
//! module only reads.

use std::collections::HashMap;
use std::sync::LazyLock;

use crate::types::Written;

const DANISH: &[&str] = &[
    "og", "jeg", "det", "at", "en", "et", "er", "ikke", "til", "på", "paa", "med", "som", "har",
    "vi", "kan", "du", "den", "af", "de", "om", "men", "hvad", "hvordan", "hvor", "hvornår", "hej",
    "tak", "hvis", "mig", "min", "mit", "mine", "skal", "vil", "være", "der", "eller", "også",
    "når", "mvh", "hilsen", "må", "maa", "vores", "bruge", "møde", "møder", "jer", "os", "nogen",
    "noget", "kun", "få", "faa", "godt", "venlig", "ved", "fra", "fordi", "sådan", "kære",
    "derfor", "bare", "lige", "selv", "hos", "dig", "mere", "meget", "nej", "ja", "igen", "hvem",
    "hvilke", "hvilken", "efter", "over", "under", "blev", "bliver", "gerne",
];

/// More Danish words that tell it from Norwegian and Swedish. Only for telling languages
/// apart: [`is_function_word`] (the classifier's stop words) reads [`DANISH`] alone.
const DANISH_MORE: &[&str] = &[
    "spørgsmål",
    "hilsner",
    "venlige",
    "hjælp",
    "hjælpe",
    "kollega",
    "kolleger",
    "siger",
    "dem",
    "deres",
    "jeres",
    "nok",
    "se",
    "endnu",
    "allerede",
    "hvorfor",
    "tilladt",
    "gælder",
];

const ENGLISH: &[&str] = &[
    "the", "and", "to", "of", "is", "it", "we", "you", "can", "have", "not", "our", "with", "my",
    "this", "that", "how", "what", "hi", "hello", "thanks", "thank", "please", "would", "could",
    "do", "does", "are", "be", "will", "regards", "dear", "there", "which", "who", "when", "where",
    "your", "from", "for", "on", "in", "if", "any", "but", "about", "get", "use", "using", "an",
    "a", "was", "has", "been", "me", "us", "they", "them", "should", "best", "kind", "i'm", "i",
    "it's", "don't", "doesn't", "isn't", "why", "all",
];

const SWEDISH: &[&str] = &[
    "och",
    "jag",
    "det",
    "att",
    "en",
    "ett",
    "är",
    "inte",
    "till",
    "på",
    "med",
    "som",
    "har",
    "vi",
    "kan",
    "du",
    "den",
    "av",
    "de",
    "om",
    "men",
    "vad",
    "hur",
    "var",
    "när",
    "hej",
    "tack",
    "mig",
    "min",
    "mitt",
    "mina",
    "ska",
    "skall",
    "vill",
    "vara",
    "där",
    "eller",
    "också",
    "få",
    "gott",
    "vänlig",
    "vänliga",
    "hälsningar",
    "hälsning",
    "mvh",
    "kära",
    "därför",
    "bara",
    "själv",
    "hos",
    "dig",
    "mer",
    "mycket",
    "nej",
    "ja",
    "igen",
    "vem",
    "vilka",
    "vilken",
    "efter",
    "över",
    "under",
    "blev",
    "blir",
    "gärna",
    "fråga",
    "frågor",
    "hjälp",
    "hjälpa",
    "använda",
    "möte",
    "möten",
    "ni",
    "er",
    "oss",
    "någon",
    "något",
    "några",
    "kollega",
    "kollegor",
    "vår",
    "våra",
    "vårt",
    "får",
    "måste",
    "finns",
    "från",
    "alltså",
    "redan",
    "varför",
    "tillåtet",
    "gäller",
    "hälsar",
    "denna",
    "detta",
    "dessa",
];

const NORWEGIAN: &[&str] = &[
    "og",
    "jeg",
    "det",
    "at",
    "en",
    "et",
    "er",
    "ikke",
    "til",
    "på",
    "med",
    "som",
    "har",
    "vi",
    "kan",
    "du",
    "den",
    "av",
    "de",
    "om",
    "men",
    "hva",
    "hvordan",
    "hvor",
    "når",
    "hei",
    "takk",
    "hvis",
    "meg",
    "min",
    "mitt",
    "mine",
    "skal",
    "vil",
    "være",
    "der",
    "eller",
    "også",
    "må",
    "vår",
    "våre",
    "vårt",
    "bruke",
    "møte",
    "møter",
    "dere",
    "oss",
    "noen",
    "noe",
    "kun",
    "få",
    "godt",
    "vennlig",
    "vennlige",
    "ved",
    "fra",
    "fordi",
    "slik",
    "kjære",
    "derfor",
    "bare",
    "selv",
    "hos",
    "deg",
    "mer",
    "mye",
    "nei",
    "ja",
    "igjen",
    "hvem",
    "hvilke",
    "hvilken",
    "etter",
    "over",
    "under",
    "ble",
    "blir",
    "gjerne",
    "spørsmål",
    "hilsen",
    "hilsener",
    "kollega",
    "kolleger",
    "kollegaer",
    "hjelp",
    "hjelpe",
    "sier",
    "dem",
    "deres",
    "allerede",
    "hvorfor",
    "tillatt",
    "gjelder",
    "ennå",
    "enda",
    "se",
];

const NYNORSK: &[&str] = &[
    "og",
    "eg",
    "det",
    "å",
    "ein",
    "eit",
    "er",
    "ikkje",
    "til",
    "på",
    "med",
    "som",
    "har",
    "vi",
    "me",
    "kan",
    "du",
    "den",
    "av",
    "dei",
    "om",
    "men",
    "kva",
    "korleis",
    "kvar",
    "når",
    "hei",
    "takk",
    "viss",
    "meg",
    "min",
    "mitt",
    "mine",
    "skal",
    "vil",
    "vere",
    "der",
    "eller",
    "òg",
    "også",
    "må",
    "vår",
    "våre",
    "bruke",
    "møte",
    "dykk",
    "de",
    "oss",
    "nokon",
    "noko",
    "berre",
    "få",
    "godt",
    "venleg",
    "ved",
    "frå",
    "fordi",
    "slik",
    "kjære",
    "difor",
    "sjølv",
    "hos",
    "deg",
    "meir",
    "mykje",
    "nei",
    "ja",
    "igjen",
    "kven",
    "kvifor",
    "etter",
    "over",
    "under",
    "vart",
    "blir",
    "gjerne",
    "spørsmål",
    "helsing",
    "helsingar",
    "hjelp",
    "hjelpe",
    "seier",
    "dykkar",
    "allereie",
    "enno",
    "ho",
    "han",
    "sjå",
    "frå",
];

const GERMAN: &[&str] = &[
    "und",
    "ich",
    "das",
    "die",
    "der",
    "den",
    "dem",
    "des",
    "ein",
    "eine",
    "einen",
    "einem",
    "ist",
    "nicht",
    "zu",
    "mit",
    "wir",
    "sie",
    "können",
    "kann",
    "wie",
    "was",
    "hallo",
    "danke",
    "bitte",
    "für",
    "auf",
    "es",
    "grüße",
    "gruß",
    "grüßen",
    "mfg",
    "unsere",
    "unser",
    "haben",
    "hat",
    "ob",
    "sind",
    "wird",
    "werden",
    "auch",
    "noch",
    "oder",
    "aber",
    "wenn",
    "dass",
    "bei",
    "nach",
    "von",
    "vom",
    "zum",
    "zur",
    "im",
    "am",
    "um",
    "frage",
    "fragen",
    "hilfe",
    "kollegen",
    "liebe",
    "lieber",
    "sehr",
    "geehrte",
    "geehrter",
    "geehrten",
    "viele",
    "vielen",
    "freundlichen",
    "beste",
    "besten",
    "meine",
    "mein",
    "mir",
    "mich",
    "uns",
    "ihr",
    "ihre",
    "ihnen",
    "benutzen",
    "nutzen",
    "dürfen",
    "darf",
    "müssen",
    "muss",
    "gibt",
    "schon",
    "warum",
    "welche",
    "wer",
    "wo",
    "diese",
    "dieser",
    "dieses",
    "guten",
    "tag",
    "herzliche",
    "nur",
];

const FRENCH: &[&str] = &[
    "le",
    "la",
    "les",
    "un",
    "une",
    "des",
    "et",
    "est",
    "pas",
    "je",
    "nous",
    "vous",
    "il",
    "elle",
    "pour",
    "avec",
    "sur",
    "dans",
    "que",
    "qui",
    "ne",
    "pouvons",
    "pouvez",
    "peut",
    "bonjour",
    "merci",
    "cordialement",
    "salutations",
    "de",
    "du",
    "au",
    "aux",
    "mon",
    "ma",
    "mes",
    "notre",
    "nos",
    "votre",
    "vos",
    "utiliser",
    "question",
    "est-ce",
    "c'est",
    "j'ai",
    "n'est",
    "d'utiliser",
    "sommes",
    "êtes",
    "avons",
    "avez",
    "très",
    "aussi",
    "mais",
    "ou",
    "où",
    "comment",
    "pourquoi",
    "quand",
    "madame",
    "monsieur",
    "bien",
    "s'il",
    "plaît",
];

const DUTCH: &[&str] = &[
    "de",
    "het",
    "een",
    "en",
    "is",
    "niet",
    "ik",
    "wij",
    "we",
    "jullie",
    "u",
    "te",
    "met",
    "op",
    "voor",
    "van",
    "dat",
    "die",
    "wat",
    "hoe",
    "hallo",
    "bedankt",
    "dank",
    "groet",
    "groeten",
    "vriendelijke",
    "kunnen",
    "kan",
    "mag",
    "mogen",
    "ons",
    "onze",
    "gebruiken",
    "vraag",
    "vragen",
    "ook",
    "maar",
    "als",
    "bij",
    "naar",
    "heb",
    "hebben",
    "zijn",
    "wordt",
    "worden",
    "geachte",
    "beste",
    "mijn",
    "uw",
    "waarom",
    "wanneer",
    "welke",
    "wie",
    "deze",
    "dit",
    "nog",
    "alleen",
    "graag",
    "hartelijk",
];

const SPANISH: &[&str] = &[
    "el",
    "la",
    "los",
    "las",
    "un",
    "una",
    "y",
    "es",
    "no",
    "que",
    "de",
    "en",
    "con",
    "para",
    "por",
    "hola",
    "gracias",
    "saludos",
    "podemos",
    "puedo",
    "puede",
    "nuestro",
    "nuestra",
    "usar",
    "pregunta",
    "cómo",
    "qué",
    "del",
    "al",
    "se",
    "lo",
    "mi",
    "mis",
    "su",
    "sus",
    "estimado",
    "estimada",
    "atentamente",
    "también",
    "pero",
    "porque",
    "cuando",
    "muy",
    "está",
    "están",
    "tengo",
    "tenemos",
    "quiero",
    "utilizar",
];

const ITALIAN: &[&str] = &[
    "il",
    "lo",
    "la",
    "gli",
    "le",
    "un",
    "una",
    "e",
    "è",
    "non",
    "che",
    "di",
    "in",
    "con",
    "per",
    "ciao",
    "grazie",
    "saluti",
    "cordiali",
    "possiamo",
    "posso",
    "può",
    "nostro",
    "nostra",
    "usare",
    "domanda",
    "come",
    "cosa",
    "del",
    "della",
    "dei",
    "al",
    "alla",
    "mi",
    "ci",
    "sono",
    "siamo",
    "gentile",
    "buongiorno",
    "anche",
    "ma",
    "perché",
    "quando",
    "molto",
    "ho",
    "abbiamo",
    "vorrei",
    "utilizzare",
    "distinti",
];

const POLISH: &[&str] = &[
    "i",
    "w",
    "nie",
    "jest",
    "to",
    "że",
    "na",
    "z",
    "do",
    "się",
    "czy",
    "jak",
    "co",
    "dzień",
    "dobry",
    "dziękuję",
    "pozdrawiam",
    "proszę",
    "mogę",
    "możemy",
    "nasz",
    "nasze",
    "pan",
    "pani",
    "oraz",
    "ale",
    "jestem",
    "mam",
    "mamy",
    "można",
    "pytanie",
    "dlaczego",
    "kiedy",
    "bardzo",
    "witam",
    "szanowni",
    "szanowny",
    "państwo",
    "używać",
    "korzystać",
    "tak",
];

const FINNISH: &[&str] = &[
    "ja",
    "on",
    "ei",
    "se",
    "että",
    "kun",
    "mutta",
    "voi",
    "voimme",
    "hei",
    "kiitos",
    "terveisin",
    "ystävällisin",
    "meidän",
    "minä",
    "me",
    "te",
    "he",
    "tämä",
    "mitä",
    "miten",
    "onko",
    "voiko",
    "olen",
    "olemme",
    "myös",
    "vain",
    "kanssa",
    "käyttää",
    "kysymys",
    "hyvä",
    "moi",
    "miksi",
    "milloin",
    "mikä",
    "tai",
    "jos",
    "niin",
    "kuin",
    "sekä",
];

/// Every language's word list, in the order ties are settled after Danish and English.
const LISTS: [(Written, &[&str]); 12] = [
    (Written::Da, DANISH),
    (Written::En, ENGLISH),
    (Written::Nb, NORWEGIAN),
    (Written::Sv, SWEDISH),
    (Written::Nn, NYNORSK),
    (Written::De, GERMAN),
    (Written::Nl, DUTCH),
    (Written::Fr, FRENCH),
    (Written::Es, SPANISH),
    (Written::It, ITALIAN),
    (Written::Pl, POLISH),
    (Written::Fi, FINNISH),
];

/// Each word and the languages (as a bit set over [`LISTS`]' order) whose list has it.
static WORDS: LazyLock<HashMap<&'static str, u16>> = LazyLock::new(|| {
    let mut words: HashMap<&'static str, u16> = HashMap::new();
    for (i, (_, list)) in LISTS.iter().enumerate() {
        for w in *list {
            *words.entry(w).or_default() |= 1 << i;
        }
    }
    for w in DANISH_MORE {
        *words.entry(w).or_default() |= 1;
    }
    words
});

/// Whether a word (lowercased, æ/ø/å folded or not) is a Danish or English function word.
pub fn is_function_word(word: &str) -> bool {
    static FOLDED: LazyLock<std::collections::HashSet<String>> = LazyLock::new(|| {
        DANISH
            .iter()
            .chain(ENGLISH)
            .flat_map(|w| [w.to_string(), crate::types::fold(w)])
            .collect()
    });
    FOLDED.contains(word)
}

/// The languages a letter speaks for, and how much.
fn letter_evidence(c: char) -> (&'static [Written], usize) {
    use Written::{Da, De, Es, Fi, Fr, It, Nb, Nn, Pl, Sv};
    match c {
        'æ' | 'ø' => (&[Da, Nb, Nn], 1),
        'å' => (&[Da, Nb, Nn, Sv], 1),
        'ä' | 'ö' => (&[Sv, De, Fi], 1),
        'ü' | 'ß' => (&[De], 2),
        'ą' | 'ę' | 'ł' | 'ś' | 'ż' | 'ź' | 'ć' | 'ń' => (&[Pl], 2),
        'ñ' | '¿' | '¡' => (&[Es], 2),
        'ç' | 'ê' | 'ë' | 'î' | 'ï' | 'ô' | 'û' | 'œ' => (&[Fr], 1),
        'ì' | 'ò' | 'ù' => (&[It], 1),
        _ => (&[], 0),
    }
}

/// The language `text` is written in; `None` when no word or letter speaks for any.
pub fn detect(text: &str) -> Option<Written> {
    detect_scored(text).map(|(lang, _)| lang)
}

/// How much evidence makes a short text's language sure: two words of the language, or
/// one and its letters. One word alone ("se", "ja") is said in too many languages.
pub const SURE: usize = 4;

/// [`detect`], with the winning language's score (2 for each of its words, 1 or 2 for each
/// of its letters) to tell a sure answer from a guess on one word.
pub fn detect_scored(text: &str) -> Option<(Written, usize)> {
    let mut score = [0usize; LISTS.len()];
    let add = |score: &mut [usize; LISTS.len()], set: u16, weight: usize| {
        for (i, s) in score.iter_mut().enumerate() {
            if set & (1 << i) != 0 {
                *s += weight;
            }
        }
    };
    for word in text
        .split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’'))
        .filter(|w| !w.is_empty())
    {
        let lower: std::borrow::Cow<'_, str> = if word.chars().any(|c| c.is_uppercase() || c == '’')
        {
            word.to_lowercase().replace('’', "'").into()
        } else {
            word.into()
        };
        if let Some(&set) = WORDS.get(lower.as_ref()) {
            add(&mut score, set, 2);
        }
        for c in lower.chars() {
            let (langs, weight) = letter_evidence(c);
            for lang in langs {
                let at = LISTS.iter().position(|(l, _)| l == lang);
                if let Some(s) = at.and_then(|at| score.get_mut(at)) {
                    *s += weight;
                }
            }
        }
    }
    let best = score.iter().copied().max().unwrap_or(0);
    if best == 0 {
        return None;
    }
    // The first language in LISTS' order with the best score: Danish, then English, win ties.
    LISTS
        .iter()
        .zip(score)
        .find(|(_, s)| *s == best)
        .map(|((lang, _), s)| (*lang, s))
}

#[cfg(test)]
#[allow(clippy::string_slice, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn detects_danish_and_english() {
        assert_eq!(detect("Hej, hvad koster Zoom? Mvh Bo"), Some(Written::Da));
        assert_eq!(detect("Hi, how much does Zoom cost?"), Some(Written::En));
        assert_eq!(
            detect("Hvordan faar jeg Zoom paa min pc"),
            Some(Written::Da)
        );
        assert_eq!(detect("Zoom 40"), None);
    }

    #[test]
    fn tells_the_scandinavian_languages_apart() {
        // Written for this test; none is from a fixture set.
        assert_eq!(
            detect("Hej! Vad kostar en licens och får vi använda den till möten med studenter? Tack på förhand"),
            Some(Written::Sv)
        );
        assert_eq!(
            detect("Hei, hva koster det å få en lisens? Vi lurer også på om dere kan hjelpe oss. Takk!"),
            Some(Written::Nb)
        );
        assert_eq!(
            detect("Hei, eg lurer på kva det kostar, og om me kan bruke det i undervisninga. Takk for hjelpa"),
            Some(Written::Nn)
        );
        assert_eq!(
            detect("Hej, hvad koster det at få en licens? Vi vil også gerne vide om I kan hjælpe os. Tak!"),
            Some(Written::Da)
        );
    }

    #[test]
    fn detects_german_and_others() {
        assert_eq!(
            detect("Sehr geehrte Damen und Herren, dürfen wir Zoom für unsere Besprechungen nutzen? Mit freundlichen Grüßen"),
            Some(Written::De)
        );
        assert_eq!(
            detect("Bonjour, est-ce que nous pouvons utiliser Zoom pour nos réunions ? Merci, cordialement"),
            Some(Written::Fr)
        );
        assert_eq!(
            detect("Goedemorgen, mogen wij Zoom gebruiken voor onze vergaderingen? Met vriendelijke groet"),
            Some(Written::Nl)
        );
        assert_eq!(
            detect("Dzień dobry, czy możemy korzystać z Zoom na spotkaniach? Pozdrawiam"),
            Some(Written::Pl)
        );
        assert_eq!(
            detect("Hola, ¿podemos usar Zoom para las reuniones del equipo? Gracias y saludos"),
            Some(Written::Es)
        );
        assert_eq!(
            detect("Buongiorno, possiamo usare Zoom per le riunioni con gli studenti? Grazie, cordiali saluti"),
            Some(Written::It)
        );
        assert_eq!(
            detect("Hei, voimmeko käyttää Zoomia kokouksissa? Kiitos, ystävällisin terveisin"),
            Some(Written::Fi)
        );
    }

    #[test]
    fn a_danish_line_over_english_text_is_not_what_this_reads() {
        // detect reads what it is given; the parser gives it the sender's own words first.
        assert_eq!(detect("Kan vi bruge det her?"), Some(Written::Da));
    }
}
