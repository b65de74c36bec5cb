//! Local validation of a playbook file before it is sent to the server.

use std::fs;
use std::path::Path;

use anyhow::{anyhow, Result};
use serde_norway::{Mapping, Value};

/// A playbook file that passed local validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Playbook {
    pub name: String,
    pub path: String,
    /// The file's raw bytes, sent as-is (base64) to the server.
    pub content: Vec<u8>,
}

/// Reads and validates a playbook file; errors name the file and the problem in one line.
pub fn load(file: &Path) -> Result<Playbook> {
    let content =
        fs::read(file).map_err(|err| anyhow!("cannot read {}: {}", file.display(), err))?;
    validate(&content)
        .map_err(|problem| anyhow!("invalid playbook {}: {}", file.display(), problem))
}

/// Checks the playbook shape the server requires; the error is the bare problem.
pub fn validate(content: &[u8]) -> std::result::Result<Playbook, String> {
    let text = std::str::from_utf8(content).map_err(|_| "file is not UTF-8 text".to_string())?;
    let document: Value =
        serde_norway::from_str(text).map_err(|err| format!("not valid YAML: {err}"))?;
    let root = document.as_mapping().ok_or_else(|| {
        format!(
            "expected a YAML mapping at the top level, found {}",
            kind_of(&document)
        )
    })?;

    required_string(root, "apiVersion", "apiVersion")?;
    let kind = required_string(root, "kind", "kind")?;
    if kind != "Playbook" {
        return Err(format!("'kind' must be 'Playbook', found '{kind}'"));
    }
    let metadata = match root.get("metadata") {
        None | Some(Value::Null) => return Err("missing 'metadata'".to_string()),
        Some(Value::Mapping(metadata)) => metadata,
        Some(other) => {
            return Err(format!(
                "'metadata' must be a mapping, found {}",
                kind_of(other)
            ))
        }
    };
    let name = required_string(metadata, "name", "metadata.name")?;
    let path = required_string(metadata, "path", "metadata.path")?;
    Ok(Playbook {
        name,
        path,
        content: content.to_vec(),
    })
}

fn required_string(map: &Mapping, key: &str, label: &str) -> std::result::Result<String, String> {
    match map.get(key) {
        None | Some(Value::Null) => Err(format!("missing '{label}'")),
        Some(Value::String(text)) if text.trim().is_empty() => Err(format!("'{label}' is empty")),
        Some(Value::String(text)) => Ok(text.clone()),
        Some(Value::Number(number)) => Ok(number.to_string()),
        Some(other) => Err(format!(
            "'{label}' must be a string, found {}",
            kind_of(other)
        )),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing (empty document)",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "apiVersion: noetl.io/v1\nkind: Playbook\nmetadata:\n  name: hello\n  path: examples/hello\nworkflow: []\n";

    fn problem(text: &str) -> String {
        validate(text.as_bytes()).unwrap_err()
    }

    #[test]
    fn accepts_a_valid_playbook() {
        let playbook = validate(GOOD.as_bytes()).unwrap();
        assert_eq!(playbook.name, "hello");
        assert_eq!(playbook.path, "examples/hello");
        assert_eq!(playbook.content, GOOD.as_bytes());
    }

    #[test]
    fn rejects_invalid_yaml() {
        assert!(problem("kind: [unclosed").starts_with("not valid YAML"));
    }

    #[test]
    fn rejects_non_mapping() {
        assert!(problem("- a\n- b\n").contains("found a list"));
        assert!(problem("").contains("empty document"));
    }

    #[test]
    fn rejects_missing_api_version() {
        assert_eq!(
            problem(&GOOD.replace("apiVersion: noetl.io/v1\n", "")),
            "missing 'apiVersion'"
        );
    }

    #[test]
    fn rejects_wrong_kind() {
        assert_eq!(
            problem(&GOOD.replace("kind: Playbook", "kind: Dataset")),
            "'kind' must be 'Playbook', found 'Dataset'"
        );
        assert_eq!(
            problem(&GOOD.replace("kind: Playbook\n", "")),
            "missing 'kind'"
        );
    }

    #[test]
    fn rejects_missing_metadata_fields() {
        assert_eq!(
            problem(&GOOD.replace("  name: hello\n", "")),
            "missing 'metadata.name'"
        );
        assert_eq!(
            problem(&GOOD.replace("  path: examples/hello\n", "")),
            "missing 'metadata.path'"
        );
        assert_eq!(
            problem(&GOOD.replace("  path: examples/hello", "  path: ''")),
            "'metadata.path' is empty"
        );
        assert_eq!(
            problem("apiVersion: v1\nkind: Playbook\n"),
            "missing 'metadata'"
        );
        assert!(problem("apiVersion: v1\nkind: Playbook\nmetadata: [1]\n")
            .contains("must be a mapping"));
        assert!(problem(&GOOD.replace("name: hello", "name: [x]"))
            .contains("'metadata.name' must be a string"));
    }

    #[test]
    fn load_error_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.yaml");
        fs::write(&file, "kind: Playbook\n").unwrap();
        let err = load(&file).unwrap_err().to_string();
        assert!(
            err.contains("bad.yaml") && err.contains("missing 'apiVersion'"),
            "{err}"
        );
        let missing = load(&dir.path().join("nope.yaml")).unwrap_err().to_string();
        assert!(
            missing.starts_with("cannot read") && missing.contains("nope.yaml"),
            "{missing}"
        );
    }
}
