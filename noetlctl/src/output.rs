//! Human tables and machine JSON on stdout.

use anyhow::Result;
use comfy_table::{presets, Table};
use serde_json::Value;

/// Where a command's result goes: pretty JSON with `--json`, else human text; both on stdout.
///
/// Commands hand it both forms of their result and never look at `--json` themselves; errors
/// are not output and go to stderr whatever the flag says.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    json: bool,
}

impl Output {
    /// `json`: whether `--json` was given.
    pub fn new(json: bool) -> Self {
        Self { json }
    }

    /// Prints `json` with `--json`, else the text `text` builds (a final newline is added).
    pub fn show(self, json: &Value, text: impl FnOnce() -> String) {
        let shown = if self.json { pretty_json(json) } else { text() };
        println!("{shown}");
    }

    /// Like `show`, for text that cannot always be built; with `--json` it is not built at all.
    pub fn try_show(self, json: &Value, text: impl FnOnce() -> Result<String>) -> Result<()> {
        let shown = if self.json {
            pretty_json(json)
        } else {
            text()?
        };
        println!("{shown}");
        Ok(())
    }
}

fn pretty_json(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// A borderless table, kubectl style.
pub fn table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut table = Table::new();
    table
        .load_preset(presets::NOTHING)
        .set_header(headers.iter().copied());
    for row in rows {
        table.add_row(row);
    }
    trim_lines(&table.to_string())
}

/// Two-column KEY / VALUE table without a header.
pub fn key_values(rows: &[(&str, String)]) -> String {
    let mut table = Table::new();
    table.load_preset(presets::NOTHING);
    for (key, value) in rows {
        table.add_row(vec![format!("{key}:"), value.clone()]);
    }
    trim_lines(&table.to_string())
}

fn trim_lines(text: &str) -> String {
    text.lines()
        .map(|line| line.trim_end().strip_prefix(' ').unwrap_or(line.trim_end()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A JSON field as display text ("" for missing/null, strings unquoted).
pub fn field(value: &Value, key: &str) -> String {
    match value.get(key) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    }
}

/// A JSON array of strings as "a, b, c" ("-" when empty).
pub fn list_field(value: &Value, key: &str) -> String {
    let items: Vec<String> = value
        .get(key)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|item| {
                    item.as_str()
                        .map_or_else(|| item.to_string(), str::to_string)
                })
                .collect()
        })
        .unwrap_or_default();
    if items.is_empty() {
        "-".to_string()
    } else {
        items.join(", ")
    }
}

/// The catalog listing as a table.
pub fn catalog_table(items: &[Value]) -> String {
    let rows = items
        .iter()
        .map(|item| {
            ["path", "name", "kind", "version", "registered_at"]
                .iter()
                .map(|key| field(item, key))
                .collect()
        })
        .collect();
    table(&["PATH", "NAME", "KIND", "VERSION", "REGISTERED AT"], rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn catalog_table_has_header_and_rows() {
        let items = vec![
            json!({"path": "examples/hello", "name": "hello", "kind": "Playbook", "version": 2, "registered_at": "2024-01-01T00:00:00Z"}),
            json!({"path": "b", "name": "bee", "kind": "Playbook", "version": 1, "registered_at": "t"}),
        ];
        let text = catalog_table(&items);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(
            lines[0].starts_with("PATH") && lines[0].contains("REGISTERED AT"),
            "{text}"
        );
        let cells: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(
            cells,
            [
                "examples/hello",
                "hello",
                "Playbook",
                "2",
                "2024-01-01T00:00:00Z"
            ]
        );
    }

    #[test]
    fn fields_render_plainly() {
        let value = json!({"s": "x", "n": 3, "none": null, "l": ["a", "b"], "e": []});
        assert_eq!(field(&value, "s"), "x");
        assert_eq!(field(&value, "n"), "3");
        assert_eq!(field(&value, "none"), "");
        assert_eq!(list_field(&value, "l"), "a, b");
        assert_eq!(list_field(&value, "e"), "-");
    }
}
