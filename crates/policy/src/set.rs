//! Loading, validating and fingerprinting a policy set.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr as _;

use countersign_proto::governance::Effect;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};
use crate::{
    ACTION_TYPE, DEFAULT_POLICIES, DEFAULT_POLICY_FILE, DEFAULT_SCHEMA, DEFAULT_TESTS,
    ENTITY_TYPES, SCHEMA_FILE, TESTS_FILE,
};

/// The label that opens the digest input, so a policy-set digest can never
/// be mistaken for a digest of anything else, and so a future change of
/// encoding gets a new label.
const DIGEST_LABEL: &str = "countersign-policy-set/v1";

/// A validated Cedar policy set: the schema text, the policy files it was
/// read from, and the parsed policies keyed by their `@id`.
///
/// Build one with [`PolicySet::from_sources`], [`PolicySet::load_dir`] or
/// [`PolicySet::defaults`]; ask it questions through
/// [`countersign_domain::policy::PolicyEngine`].
#[derive(Clone, Debug)]
pub struct PolicySet {
    pub(crate) schema_text: String,
    pub(crate) schema: cedar_policy::Schema,
    /// `(file name, text)`, sorted by file name.
    sources: Vec<(String, String)>,
    pub(crate) cedar: cedar_policy::PolicySet,
    infos: Vec<PolicyInfo>,
    pub(crate) digest: String,
}

/// One policy of a set, as operators see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PolicyInfo {
    /// The `@id` annotation; what decisions name.
    pub id: String,
    /// `allow` for a `permit`, `deny` for a `forbid`.
    pub effect: Effect,
    /// The file the policy was read from.
    pub file: String,
    /// The `@reason` annotation, if given.
    pub reason: Option<String>,
    /// The policy's source text exactly as written, annotations included.
    pub text: String,
}

impl PolicySet {
    /// Parse and validate (strict mode) `policies` — `(file name, text)`
    /// pairs — against `schema` (Cedar schema syntax).
    ///
    /// Every policy must carry a unique `@id("...")` annotation, which
    /// becomes its policy id; an optional `@reason("...")` gives the reason
    /// people are shown. Templates (policies with slots) are refused. The
    /// error lists every problem found, each naming the file (and line, and
    /// policy id, where there is one).
    pub fn from_sources(schema: &str, policies: &[(String, String)]) -> Result<Self> {
        let mut problems = Vec::new();

        let mut sources = policies.to_vec();
        sources.sort_by(|a, b| a.0.cmp(&b.0));
        let mut names = BTreeSet::new();
        for (name, _) in &sources {
            if !names.insert(name.as_str()) {
                problems.push(format!("{name}: the same file name is given twice"));
            }
        }

        let parsed_schema = match cedar_policy::Schema::from_cedarschema_str(schema) {
            Ok((parsed, _warnings)) => {
                problems.extend(missing_declarations(&parsed));
                Some(parsed)
            }
            Err(e) => {
                problems.push(located(SCHEMA_FILE, schema, None, "", &e));
                None
            }
        };

        let mut cedar = cedar_policy::PolicySet::new();
        let mut infos = Vec::new();
        // Where each id was first seen, for duplicate and validation
        // messages: the file's name and text, and the policy's line.
        let mut origins: HashMap<String, (&str, &str, usize)> = HashMap::new();
        for (file, text) in &sources {
            let parsed = match cedar_policy::PolicySet::from_str(text) {
                Ok(parsed) => parsed,
                Err(errors) => {
                    for e in errors.iter() {
                        problems.push(located(file, text, None, "syntax error: ", e));
                    }
                    continue;
                }
            };
            if parsed.num_of_templates() > 0 {
                problems.push(format!(
                    "{file}: policy templates (with ?principal or ?resource) are not supported"
                ));
            }
            for (line, policy) in in_source_order(text, &parsed) {
                let at = format!("{file}:{line}");
                let id = match policy.annotation("id").map(str::trim) {
                    Some(id) if !id.is_empty() => id.to_owned(),
                    Some(_) => {
                        problems.push(format!("{at}: policy has an empty @id annotation"));
                        continue;
                    }
                    None => {
                        problems.push(format!(
                            "{at}: policy has no @id(\"...\") annotation; every policy needs a unique one"
                        ));
                        continue;
                    }
                };
                if let Some((first_file, _, first_line)) = origins.get(&id) {
                    problems.push(format!(
                        "{at}: policy id `{id}` is already used by the policy at {first_file}:{first_line}"
                    ));
                    continue;
                }
                let source_text = policy.to_cedar().unwrap_or_else(|| policy.to_string());
                if let Err(e) = cedar.add(policy.new_id(cedar_policy::PolicyId::new(&id))) {
                    problems.push(format!("{at}: policy `{id}`: {e}"));
                    continue;
                }
                infos.push(PolicyInfo {
                    id: id.clone(),
                    effect: match policy.effect() {
                        cedar_policy::Effect::Permit => Effect::Allow,
                        cedar_policy::Effect::Forbid => Effect::Deny,
                    },
                    file: file.clone(),
                    reason: policy.annotation("reason").map(str::to_owned),
                    text: source_text,
                });
                origins.insert(id, (file, text, line));
            }
        }

        if let Some(schema) = &parsed_schema {
            let validator = cedar_policy::Validator::new(schema.clone());
            let result = validator.validate(&cedar, cedar_policy::ValidationMode::Strict);
            for e in result.validation_errors() {
                let id = e.policy_id().to_string();
                // Cedar's messages usually name the policy already.
                let prefix = if e.to_string().contains(&format!("`{id}`")) {
                    String::new()
                } else {
                    format!("policy `{id}`: ")
                };
                problems.push(match origins.get(&id) {
                    Some((file, text, line)) => located(file, text, Some(*line), &prefix, e),
                    None => format!("{prefix}{e}"),
                });
            }
        }

        match parsed_schema {
            Some(parsed) if problems.is_empty() => Ok(PolicySet {
                digest: digest_of(schema, &sources),
                schema_text: schema.to_owned(),
                schema: parsed,
                sources,
                cedar,
                infos,
            }),
            _ => Err(Error::InvalidPolicySet { problems }),
        }
    }

    /// Read `dir/schema.cedarschema` and every `dir/*.cedar` (sorted by
    /// name; names starting with `.` are skipped, as editors leave such
    /// files behind). A directory with no policy file is an error.
    pub fn load_dir(dir: &Path) -> Result<Self> {
        let schema_path = dir.join(SCHEMA_FILE);
        let schema = fs::read_to_string(&schema_path).map_err(|e| Error::io(&schema_path, e))?;
        let mut policies = Vec::new();
        for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
            let entry = entry.map_err(|e| Error::io(dir, e))?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || path.extension().is_none_or(|ext| ext != "cedar") {
                continue;
            }
            if !fs::metadata(&path).is_ok_and(|m| m.is_file()) {
                continue;
            }
            let text = fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
            policies.push((name, text));
        }
        if policies.is_empty() {
            return Err(Error::NoPolicyFiles {
                dir: dir.to_path_buf(),
            });
        }
        policies.sort_by(|a, b| a.0.cmp(&b.0));
        Self::from_sources(&schema, &policies)
    }

    /// The shipped default set: [`DEFAULT_SCHEMA`] and [`DEFAULT_POLICIES`]
    /// (as `default.cedar`).
    pub fn defaults() -> Result<Self> {
        Self::from_sources(
            DEFAULT_SCHEMA,
            &[(DEFAULT_POLICY_FILE.to_owned(), DEFAULT_POLICIES.to_owned())],
        )
    }

    /// Write the default schema, policies (`default.cedar`) and test cases
    /// (`tests.toml`) into `dir`, creating it. Existing files are never
    /// overwritten: if any of the three exists, nothing is written and the
    /// error names them.
    pub fn write_defaults(dir: &Path) -> Result<()> {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let files = [
            (SCHEMA_FILE, DEFAULT_SCHEMA),
            (DEFAULT_POLICY_FILE, DEFAULT_POLICIES),
            (TESTS_FILE, DEFAULT_TESTS),
        ];
        let existing: Vec<PathBuf> = files
            .iter()
            .map(|(name, _)| dir.join(name))
            .filter(|path| fs::symlink_metadata(path).is_ok())
            .collect();
        if !existing.is_empty() {
            return Err(Error::AlreadyExists { paths: existing });
        }
        for (name, text) in files {
            let path = dir.join(name);
            // `create_new` keeps the promise even against a file that
            // appeared since the check above.
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(|e| Error::io(&path, e))?;
            file.write_all(text.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| Error::io(&path, e))?;
        }
        Ok(())
    }

    /// `sha256:<hex>` of the policy set.
    ///
    /// The digest is SHA-256 over a length-prefixed encoding, where
    /// `lp(x)` is the length of `x` in bytes as a big-endian u64 followed by
    /// the bytes of `x`:
    ///
    /// ```text
    /// lp("countersign-policy-set/v1") || lp(schema text) || u64be(number of files)
    ///   || lp(file name 1) || lp(file text 1) || lp(file name 2) || lp(file text 2) || ...
    /// ```
    ///
    /// with the policy files in byte order of their names. Texts are hashed
    /// exactly as given (UTF-8, no normalisation): any edit, even to a
    /// comment or whitespace, and any rename, changes the digest. The
    /// schema's file name is fixed and not part of the input; test case
    /// files are not part of the policy set.
    pub fn digest(&self) -> String {
        self.digest.clone()
    }

    /// Every policy, in file name order and, within a file, in source order.
    pub fn policies(&self) -> Vec<PolicyInfo> {
        self.infos.clone()
    }

    /// The schema, exactly as given.
    pub fn schema_text(&self) -> &str {
        &self.schema_text
    }

    /// The policy files, `(file name, text)`, sorted by name, exactly as given.
    pub fn sources(&self) -> &[(String, String)] {
        &self.sources
    }
}

/// The entity types and actions the engine gives Cedar; a schema without
/// them would make every decision fail.
fn missing_declarations(schema: &cedar_policy::Schema) -> Vec<String> {
    let declared_types: BTreeSet<String> = schema.entity_types().map(|t| t.to_string()).collect();
    let declared_actions: BTreeSet<String> = schema.actions().map(|a| a.to_string()).collect();
    let mut problems = Vec::new();
    for ty in ENTITY_TYPES {
        if !declared_types.contains(*ty) {
            problems.push(format!("{SCHEMA_FILE}: entity type `{ty}` is not declared"));
        }
    }
    for action in countersign_proto::governance::PolicyAction::ALL {
        let uid = format!("{ACTION_TYPE}::\"{}\"", action.as_str());
        if !declared_actions.contains(&uid) {
            problems.push(format!("{SCHEMA_FILE}: action `{uid}` is not declared"));
        }
    }
    problems
}

/// The policies of one parsed file with the line each starts on, in the
/// order they are written.
fn in_source_order<'a>(
    text: &str,
    parsed: &'a cedar_policy::PolicySet,
) -> Vec<(usize, &'a cedar_policy::Policy)> {
    // The parser names a file's policies `policy0`, `policy1`, ... in source
    // order; the number restores that order, which a set does not keep.
    let mut policies: Vec<(usize, &cedar_policy::Policy)> = parsed
        .policies()
        .map(|p| {
            let n = p
                .id()
                .to_string()
                .strip_prefix("policy")
                .and_then(|n| n.parse().ok())
                .unwrap_or(usize::MAX);
            (n, p)
        })
        .collect();
    policies.sort_by_key(|(n, _)| *n);

    // Each policy's text is a slice of the file; searching from the end of
    // the previous one finds it even when two policies are written alike.
    let mut cursor = 0;
    policies
        .into_iter()
        .map(|(_, policy)| {
            let line = policy
                .to_cedar()
                .and_then(|own| {
                    text.get(cursor..)?
                        .find(&own)
                        .map(|i| (cursor + i, own.len()))
                })
                .map_or(0, |(start, len)| {
                    cursor = start + len;
                    line_of(text, start)
                });
            (line, policy)
        })
        .collect()
}

/// `file:line: <prefix><message> (<help>)` for a Cedar error, the line
/// taken from the error's first source label (offsets into `text`), else
/// `fallback_line`.
fn located<'e, E>(
    file: &str,
    text: &str,
    fallback_line: Option<usize>,
    prefix: &str,
    error: &'e E,
) -> String
where
    cedar_policy::ffi::DetailedError: From<&'e E>,
{
    let detail = cedar_policy::ffi::DetailedError::from(error);
    let at = match detail
        .source_locations
        .first()
        .map(|label| line_of(text, label.loc.start))
        .or(fallback_line)
    {
        Some(line) => format!("{file}:{line}"),
        None => file.to_owned(),
    };
    let help = detail.help.map(|h| format!(" ({h})")).unwrap_or_default();
    format!("{at}: {prefix}{}{help}", detail.message)
}

/// The 1-based line of byte `offset` in `text`.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).map_or(0, |before| {
        before.bytes().filter(|b| *b == b'\n').count() + 1
    })
}

fn digest_of(schema: &str, sources: &[(String, String)]) -> String {
    fn part(hasher: &mut Sha256, bytes: &[u8]) {
        hasher.update((bytes.len() as u64).to_be_bytes());
        hasher.update(bytes);
    }
    let mut hasher = Sha256::new();
    part(&mut hasher, DIGEST_LABEL.as_bytes());
    part(&mut hasher, schema.as_bytes());
    hasher.update((sources.len() as u64).to_be_bytes());
    for (name, text) in sources {
        part(&mut hasher, name.as_bytes());
        part(&mut hasher, text.as_bytes());
    }
    format!("sha256:{}", hex::encode(hasher.finalize()))
}
