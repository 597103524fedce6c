//! Rows of `blocks`.

use fake::faker::lorem::en::{Paragraph, Sentence, Words};
use fake::faker::name::en::Name;
use serde_json::{Value, json};
use sqlx::PgConnection;

use super::{Block, PageVersion, PageVersionFactory, draw, slugify, unique_token};

/// Block kinds the factory knows fake props for.
const KINDS: [&str; 6] = ["heading", "paragraph", "image", "hero", "quote", "button"];

/// A block that is not stored yet, as made by [`BlockFactory::build`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBlock {
    /// The version; `None` makes [`insert`](Self::insert) create one with
    /// [`PageVersionFactory`].
    pub page_version_id: Option<i64>,
    /// Position; `None` appends after the version's last block (0 for its first).
    pub position: Option<i32>,
    /// Block type, `^[a-z][a-z0-9_-]*$`.
    pub kind: String,
    /// Block settings (a JSON object).
    pub props: Value,
}

impl NewBlock {
    /// Inserts this block (and a version first when it has none) and returns the stored row.
    pub async fn insert(self, conn: &mut PgConnection) -> sqlx::Result<Block> {
        let page_version_id = match self.page_version_id {
            Some(id) => id,
            // Not `PageVersionFactory::insert`: that one inserts blocks.
            None => {
                PageVersionFactory::new()
                    .build()
                    .insert(&mut *conn)
                    .await?
                    .id
            }
        };
        sqlx::query_as::<_, Block>(
            "INSERT INTO blocks (page_version_id, position, kind, props) \
             VALUES ($1, \
                     COALESCE($2, (SELECT COALESCE(max(position) + 1, 0) \
                                   FROM blocks WHERE page_version_id = $1)), \
                     $3, $4) \
             RETURNING *",
        )
        .bind(page_version_id)
        .bind(self.position)
        .bind(self.kind)
        .bind(self.props)
        .fetch_one(conn)
        .await
    }
}

/// Makes [`NewBlock`]s and [`Block`] rows with fake data.
///
/// Without overrides a block gets a random kind (`heading`, `paragraph`, `image`, `hero`,
/// `quote` or `button`) with props that fit it, and goes after the version's last block;
/// [`insert`](Self::insert) creates its version (and page, site, owner) when none was given.
///
/// ```
/// use page_builder::factories::BlockFactory;
///
/// let block = BlockFactory::new().page_version_id(1).kind("heading").build();
/// assert!(block.props["text"].is_string());
/// assert_eq!(block.position, None);
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct BlockFactory {
    page_version_id: Option<i64>,
    position: Option<i32>,
    kind: Option<String>,
    props: Option<Value>,
}

impl BlockFactory {
    /// A factory that fakes every field and creates the version on insert.
    pub fn new() -> Self {
        Self::default()
    }

    overrides! {
        /// Puts the block in `version`.
        page_version(&PageVersion) => page_version_id;

        /// Puts the block in the version with this id.
        page_version_id: i64;

        /// Uses this position instead of appending.
        position: i32;

        /// Uses this kind; faked props then fit it (unknown kinds get `{"text": ...}`).
        kind: into String;

        /// Uses these props (they must be a JSON object).
        props: Value;
    }

    /// A new block with the overrides and fake data for the rest; no database needed.
    pub fn build(&self) -> NewBlock {
        let kind = self
            .kind
            .clone()
            .unwrap_or_else(|| KINDS[draw::<usize, _>(0..KINDS.len())].to_owned());
        let props = self.props.clone().unwrap_or_else(|| fake_props(&kind));
        NewBlock {
            page_version_id: self.page_version_id,
            position: self.position,
            kind,
            props,
        }
    }

    /// Builds a block and inserts it (and its version, when none was given).
    pub async fn insert(self, conn: &mut PgConnection) -> sqlx::Result<Block> {
        self.build().insert(conn).await
    }
}

/// Props that fit `kind`, the way the editor saves them.
fn fake_props(kind: &str) -> Value {
    let sentence = |words: std::ops::Range<usize>| -> String {
        let s: String = draw(Sentence(words));
        s.trim_end_matches('.').to_owned()
    };
    let link = || -> String {
        let words: Vec<String> = draw(Words(1..3));
        format!("/{}", slugify(&words.join(" "), '-'))
    };
    match kind {
        "heading" => json!({ "text": sentence(2..7), "level": draw::<u8, _>(1..4) }),
        "paragraph" => json!({ "text": draw::<String, _>(Paragraph(2..5)) }),
        "image" => json!({
            "src": format!("https://picsum.photos/seed/{}/800/450", unique_token()),
            "alt": sentence(3..8),
            "width": 800,
            "height": 450,
        }),
        "hero" => json!({
            "title": sentence(2..6),
            "subtitle": draw::<String, _>(Sentence(6..12)),
            "cta": { "label": sentence(1..3), "href": link() },
        }),
        "quote" => {
            json!({ "text": draw::<String, _>(Sentence(8..16)), "cite": draw::<String, _>(Name()) })
        }
        "button" => json!({
            "label": sentence(1..3),
            "href": link(),
            "variant": (["primary", "secondary"][draw::<usize, _>(0..2usize)]),
        }),
        _ => json!({ "text": draw::<String, _>(Sentence(4..10)) }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The schema's `blocks_kind_format`: `^[a-z][a-z0-9_-]*$`.
    fn is_valid_kind(kind: &str) -> bool {
        let mut bytes = kind.bytes();
        bytes.next().is_some_and(|b| b.is_ascii_lowercase())
            && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'))
    }

    #[test]
    fn kinds_and_props_are_valid() {
        let factory = BlockFactory::new();
        for _ in 0..500 {
            let block = factory.build();
            assert!(is_valid_kind(&block.kind), "{}", block.kind);
            assert!(block.props.is_object(), "{}", block.props);
            assert_eq!(block.position, None);
        }
    }

    #[test]
    fn every_kind_gets_fitting_props() {
        for kind in KINDS {
            let props = BlockFactory::new().kind(kind).build().props;
            let key = match kind {
                "hero" => "title",
                "button" => "label",
                "image" => "src",
                _ => "text",
            };
            assert!(props[key].is_string(), "{kind}: {props}");
        }
        let href = BlockFactory::new().kind("button").build().props["href"].clone();
        assert!(href.as_str().is_some_and(|h| h.starts_with('/')), "{href}");
    }

    #[test]
    fn overrides_are_respected() {
        let props = json!({"html": "<hr>"});
        let block = BlockFactory::new()
            .page_version_id(9)
            .position(4)
            .kind("embed")
            .props(props.clone())
            .build();
        assert_eq!(
            block,
            NewBlock {
                page_version_id: Some(9),
                position: Some(4),
                kind: "embed".into(),
                props,
            }
        );
        assert!(BlockFactory::new().kind("embed").build().props["text"].is_string());
    }
}
