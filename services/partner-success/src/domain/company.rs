//! Company names compared the way people write them: "ACME, Inc.", "Acme
//! Inc" and "acme" are one company, as are "株式会社アクメ" and "アクメ".

/// Legal forms dropped at the end of a name (after punctuation is gone).
const LEGAL_SUFFIXES: &[&str] = &[
    "inc",
    "incorporated",
    "corp",
    "corporation",
    "co",
    "company",
    "ltd",
    "limited",
    "llc",
    "llp",
    "plc",
    "gmbh",
    "ag",
    "kg",
    "sa",
    "sas",
    "srl",
    "bv",
    "nv",
    "pte",
    "pty",
    "kk",
    "gk",
];

/// Japanese legal forms, dropped wherever they stand (they precede or follow
/// the name without a space).
const JAPANESE_FORMS: &[&str] = &[
    "株式会社",
    "合同会社",
    "有限会社",
    "合資会社",
    "合名会社",
    "(株)",
    "(有)",
    "㈱",
    "㈲",
];

/// The key two names of one company share: lower case, full-width letters
/// folded, punctuation and white space dropped, legal forms ("Inc.",
/// "Co., Ltd.", "GmbH", "株式会社", ...) removed. Empty when nothing but
/// punctuation and legal forms is left.
pub fn normalise_company_name(name: &str) -> String {
    let text = prepared(name);
    let mut tokens: Vec<&str> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .collect();
    while tokens.len() > 1
        && tokens
            .last()
            .is_some_and(|last| LEGAL_SUFFIXES.contains(last))
    {
        tokens.pop();
    }
    tokens.concat()
}

/// The longest run of letters and digits of a name, lower case: every name
/// with the same key holds it, so it narrows a search for matching names.
pub fn search_token(name: &str) -> Option<String> {
    prepared(name)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty() && !LEGAL_SUFFIXES.contains(t))
        .max_by_key(|t| t.chars().count())
        .map(str::to_owned)
}

/// Lower case, full-width letters folded, Japanese legal forms replaced by a
/// space, and dots and apostrophes dropped ("K.K." is "kk", "A.C.M.E." is
/// "acme").
fn prepared(name: &str) -> String {
    let mut text: String = name
        .chars()
        .map(fold_width)
        .filter(|c| !matches!(c, '.' | '\'' | '\u{2019}'))
        .collect::<String>()
        .to_lowercase();
    for form in JAPANESE_FORMS {
        text = text.replace(form, " ");
    }
    text
}

/// Full-width ASCII (U+FF01..U+FF5E) and the ideographic space as their
/// ASCII forms.
fn fold_width(c: char) -> char {
    match c {
        '\u{3000}' => ' ',
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legal_forms_case_and_punctuation_are_ignored() {
        for name in [
            "Acme",
            "ACME, Inc.",
            "Acme Inc",
            "acme corp.",
            "Acme Co., Ltd.",
            "Acme GmbH",
            "Acme LLC",
            "Acme K.K.",
            "  acme  ",
            "ＡＣＭＥ",
        ] {
            assert_eq!(normalise_company_name(name), "acme", "{name}");
        }
    }

    #[test]
    fn japanese_legal_forms_are_ignored_before_or_after_the_name() {
        for name in [
            "株式会社アクメ",
            "アクメ株式会社",
            "アクメ 合同会社",
            "（株）アクメ",
            "㈱アクメ",
        ] {
            assert_eq!(normalise_company_name(name), "アクメ", "{name}");
        }
    }

    #[test]
    fn words_of_the_name_are_kept_and_joined() {
        assert_eq!(normalise_company_name("Acme Tech, Inc."), "acmetech");
        assert_eq!(normalise_company_name("Acme-Tech"), "acmetech");
        assert_ne!(
            normalise_company_name("Acme Tech"),
            normalise_company_name("Acme")
        );
        // Only trailing legal forms go: "Co" inside a name stays.
        assert_eq!(normalise_company_name("Co Op Bank Ltd"), "coopbank");
    }

    #[test]
    fn a_name_that_is_only_a_legal_form_keeps_it() {
        assert_eq!(normalise_company_name("Inc."), "inc");
        assert_eq!(normalise_company_name("!!!"), "");
        assert_eq!(normalise_company_name("株式会社"), "");
    }

    #[test]
    fn the_search_token_is_in_every_matching_name() {
        assert_eq!(
            search_token("Acme Technologies, Inc.").as_deref(),
            Some("technologies")
        );
        assert_eq!(search_token("株式会社アクメ").as_deref(), Some("アクメ"));
        assert_eq!(search_token("!!!"), None);
    }
}
