//! A wiki whose page names are unique: saving several aggregates atomically, and uniqueness
//! through ids derived from names (digest §2.10, §1.12).
//!
//! A [`Page`] has a random id. Its name is found through an [`Index`] whose id is derived from
//! the name ([`Index::create_id`]: a version 5 UUID of `/pages/{name}`), so two indexes of the
//! same name have the same id. Creating a page saves the page and its index together, in one
//! atomic insert: if the name is taken, the index's first event conflicts with the existing
//! index's, the store refuses the whole insert (an integrity error), and neither is stored.
//! Renaming a page saves the page's `NameUpdated` event with a new index in the same way, so a
//! rename to a taken name leaves nothing behind either.
//!
//! As in the reference library, the old name's index stays, still pointing at the page: old
//! names keep working as redirects, and a name once used is not given to another page.
//!
//! ```
//! use eventsourcing_examples::wiki::Wiki;
//!
//! # fn main() -> Result<(), eventsourcing_examples::wiki::WikiError> {
//! let wiki = Wiki::with_builder(Wiki::builder().without_process_env())?; // in memory
//! wiki.create_page("Erth", "Lorem ipsum...")?;
//! wiki.rename_page("Erth", "Earth")?;
//! assert_eq!(wiki.get_page("Earth")?.body(), "Lorem ipsum...");
//!
//! let error = wiki.create_page("Earth", "Neque porro quisquam...").unwrap_err();
//! assert!(error.is_conflict());
//! assert_eq!(wiki.get_page("Earth")?.body(), "Lorem ipsum...");
//! # Ok(())
//! # }
//! ```

use std::io::Write;

use eventsourcing::application::{Application, ApplicationBuilder, ApplicationError};
use eventsourcing::domain::url_id;
use eventsourcing::prelude::*;

/// A wiki page: a name and a body.
#[aggregate]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page {
    name: String,
    body: String,
}

#[aggregate]
impl Page {
    /// A new page (`Page.Created`), with a random id.
    #[created]
    pub fn create(name: String, body: String) -> Self {
        Page { name, body }
    }

    /// Renames the page (`Page.NameUpdated`).
    #[event("NameUpdated")]
    pub fn update_name(&mut self, name: String) {
        self.name = name;
    }

    /// Replaces the page's body (`Page.BodyUpdated`).
    #[event("BodyUpdated")]
    pub fn update_body(&mut self, body: String) {
        self.body = body;
    }

    /// The page's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The page's body.
    pub fn body(&self) -> &str {
        &self.body
    }
}

/// The index of a page name: its id is derived from the name, and it refers to the page.
#[aggregate]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Index {
    name: String,
    r#ref: Uuid,
}

#[aggregate]
impl Index {
    /// The index of `name`, referring to the page `ref` (`Index.Created`, stored with the
    /// reference's field names `name` and `ref`). Its id is [`Index::create_id`] of the name.
    #[created]
    pub fn create(name: String, r#ref: Uuid) -> Self {
        Index { name, r#ref }
    }

    /// The id of the index of `name`: the version 5 UUID of `/pages/{name}` in the URL
    /// namespace.
    pub fn create_id(name: &str) -> Uuid {
        url_id(&format!("/pages/{name}"))
    }

    /// The indexed name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The id of the page the name refers to.
    pub fn page_id(&self) -> Uuid {
        self.r#ref
    }
}

/// An error of the [`Wiki`].
#[derive(Debug, thiserror::Error)]
pub enum WikiError {
    /// No page has this name.
    #[error("there is no page named {0:?}")]
    PageNotFound(String),

    /// Storing or reading failed. When a name is taken, this is an integrity error (see
    /// [`WikiError::is_conflict`]).
    #[error(transparent)]
    Application(#[from] ApplicationError),
}

impl WikiError {
    /// Whether the store refused the save because another writer got there first: the name is
    /// taken (or, for a rename, the page was changed in the meantime). The reference library
    /// raises `RecordConflictError`.
    pub fn is_conflict(&self) -> bool {
        matches!(self, WikiError::Application(error) if error.is_integrity())
    }
}

/// The Wiki application: pages by name.
#[derive(Debug)]
pub struct Wiki {
    app: Application,
}

impl Wiki {
    /// The application's name: the prefix of its environment variables (`WIKI_...`).
    pub const NAME: &'static str = "Wiki";

    /// The application configured from the process environment (in memory unless configured
    /// otherwise).
    pub fn new() -> Result<Self, ApplicationError> {
        Self::with_builder(Self::builder())
    }

    /// A builder of the application, starting from the process environment.
    pub fn builder() -> ApplicationBuilder {
        Application::builder(Self::NAME)
    }

    /// The application that `builder` builds.
    pub fn with_builder(builder: ApplicationBuilder) -> Result<Self, ApplicationError> {
        Ok(Wiki {
            app: builder.build()?,
        })
    }

    /// The underlying application.
    pub fn app(&self) -> &Application {
        &self.app
    }

    /// Creates a page named `name` and its index, atomically, and returns the page's id. If the
    /// name is taken, nothing is stored and the error [`is_conflict`](WikiError::is_conflict).
    pub fn create_page(&self, name: &str, body: &str) -> Result<Uuid, WikiError> {
        let mut page = Page::create(name.to_string(), body.to_string());
        let mut index = Index::create(name.to_string(), page.id());
        self.app.save((&mut page, &mut index))?;
        Ok(page.id())
    }

    /// Renames the page `name` to `new_name`: the page's `NameUpdated` event and the new name's
    /// index are saved atomically. If `new_name` is taken, nothing is stored and the error
    /// [`is_conflict`](WikiError::is_conflict). The old name keeps referring to the page.
    pub fn rename_page(&self, name: &str, new_name: &str) -> Result<(), WikiError> {
        let mut page = self.get_page(name)?;
        page.update_name(new_name.to_string());
        let mut index = Index::create(new_name.to_string(), page.id());
        self.app.save((&mut page, &mut index))?;
        Ok(())
    }

    /// Replaces the body of the page `name`.
    pub fn update_body(&self, name: &str, body: &str) -> Result<(), WikiError> {
        let mut page = self.get_page(name)?;
        page.update_body(body.to_string());
        self.app.save(&mut page)?;
        Ok(())
    }

    /// The page named `name` (or once named so: old names keep referring to renamed pages).
    pub fn get_page(&self, name: &str) -> Result<Page, WikiError> {
        let index: Index = match self.app.repository().get(Index::create_id(name)) {
            Ok(index) => index,
            Err(error) if error.is_not_found() => {
                return Err(WikiError::PageNotFound(name.to_string()))
            }
            Err(error) => return Err(error.into()),
        };
        Ok(self.app.repository().get(index.page_id())?)
    }
}

/// What the `wiki` example program does: on the first run, creates the page "Erth" and renames
/// it "Earth"; on every run, adds a line to the page's body, tries to create another page named
/// "Earth" (which the store refuses), and writes what happened and the page to `out`.
pub fn demo(wiki: &Wiki, out: &mut dyn Write) -> Result<(), Box<dyn std::error::Error>> {
    match wiki.get_page("Earth") {
        Ok(_) => {}
        Err(WikiError::PageNotFound(_)) => {
            wiki.create_page("Erth", "Lorem ipsum...")?;
            writeln!(out, "Created the page \"Erth\"")?;
            wiki.rename_page("Erth", "Earth")?;
            writeln!(out, "Renamed \"Erth\" to \"Earth\"")?;
        }
        Err(error) => return Err(error.into()),
    }

    let page = wiki.get_page("Earth")?;
    let edit = page.version();
    wiki.update_body("Earth", &format!("{}\nEdit number {edit}.", page.body()))?;
    writeln!(out, "Added a line to \"Earth\"")?;

    match wiki.create_page("Earth", "Neque porro quisquam...") {
        Err(error) if error.is_conflict() => writeln!(
            out,
            "Creating another page named \"Earth\" was refused: the name is taken"
        )?,
        Err(error) => return Err(error.into()),
        Ok(_) => writeln!(out, "Unexpectedly created a second page named \"Earth\"")?,
    }

    let page = wiki.get_page("Earth")?;
    let old = wiki.get_page("Erth")?;
    writeln!(
        out,
        "Page {:?} ({}), version {}; \"Erth\" still leads to it: {}",
        page.name(),
        page.id(),
        page.version(),
        old.id() == page.id()
    )?;
    for line in page.body().lines() {
        writeln!(out, "  | {line}")?;
    }
    Ok(())
}
