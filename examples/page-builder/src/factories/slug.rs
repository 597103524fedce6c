//! Turning free text into a name made of ASCII letters, digits and one separator: the slugs
//! and e-mail local parts of fake rows.

/// Lowercase ASCII letters and digits of `text`, each run of anything else turned into one
/// `separator`, with none at either end: `Ada's notes!` with `-` is `ada-s-notes`.
/// Empty when `text` has no ASCII letter or digit.
pub(crate) fn slugify(text: &str, separator: char) -> String {
    let mut slug = String::with_capacity(text.len());
    let mut separator_pending = false;
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            if separator_pending && !slug.is_empty() {
                slug.push(separator);
            }
            separator_pending = false;
            slug.push(c.to_ascii_lowercase());
        } else {
            separator_pending = true;
        }
    }
    slug
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_of_other_characters_become_one_separator() {
        assert_eq!(slugify("  Hello, World!  ", '-'), "hello-world");
        assert_eq!(slugify("Ada's notes!", '-'), "ada-s-notes");
        assert_eq!(slugify("already_snake_42", '_'), "already_snake_42");
        assert_eq!(slugify("O'Conner Émile", '.'), "o.conner.mile");
        assert_eq!(slugify("---", '-'), "");
    }
}
