//! CLI contexts: named server URLs kept in `config.yaml`, plus server URL resolution.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _, Result};
use serde::{Deserialize, Serialize};

pub const DEFAULT_HOST: &str = "localhost";
pub const DEFAULT_PORT: u16 = 8082;
pub const CONFIG_FILE_NAME: &str = "config.yaml";

/// One named server the CLI can talk to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextEntry {
    pub server_url: String,
}

/// The whole `config.yaml` file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_context: Option<String>,
    #[serde(default)]
    pub contexts: BTreeMap<String, ContextEntry>,
}

impl Config {
    /// Reads the config file; a missing file is an empty config.
    pub fn load(path: &Path) -> Result<Self> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(err) => return Err(err).with_context(|| format!("cannot read {}", path.display())),
        };
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_norway::from_str(&text)
            .map_err(|err| anyhow!("invalid config file {}: {}", path.display(), err))
    }

    /// Writes the config file, creating its directory if needed.
    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)
                .with_context(|| format!("cannot create directory {}", dir.display()))?;
        }
        let text = serde_norway::to_string(self).context("cannot serialize the config")?;
        fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
    }

    /// Adds or replaces a context; returns true when it replaced an existing one.
    pub fn add(&mut self, name: &str, server_url: &str, make_current: bool) -> Result<bool> {
        if name.trim().is_empty() {
            bail!("context name must not be empty");
        }
        let server_url = normalize_server_url(server_url)?;
        let replaced = self
            .contexts
            .insert(name.to_string(), ContextEntry { server_url })
            .is_some();
        if make_current {
            self.current_context = Some(name.to_string());
        }
        Ok(replaced)
    }

    pub fn use_context(&mut self, name: &str) -> Result<()> {
        self.entry(name)?;
        self.current_context = Some(name.to_string());
        Ok(())
    }

    /// Removes a context; returns true when it was the current one (which is then unset).
    pub fn delete(&mut self, name: &str) -> Result<bool> {
        self.entry(name)?;
        self.contexts.remove(name);
        let was_current = self.current_context.as_deref() == Some(name);
        if was_current {
            self.current_context = None;
        }
        Ok(was_current)
    }

    pub fn entry(&self, name: &str) -> Result<&ContextEntry> {
        self.contexts
            .get(name)
            .ok_or_else(|| self.unknown_context(name))
    }

    /// The current context's name and entry, if one is set.
    pub fn current(&self) -> Result<Option<(&str, &ContextEntry)>> {
        match self.current_context.as_deref() {
            None => Ok(None),
            Some(name) => Ok(Some((name, self.entry(name)?))),
        }
    }

    fn unknown_context(&self, name: &str) -> anyhow::Error {
        if self.contexts.is_empty() {
            anyhow!(
                "unknown context '{name}' (no contexts defined; add one with 'noetl context add')"
            )
        } else {
            let known: Vec<&str> = self.contexts.keys().map(String::as_str).collect();
            anyhow!(
                "unknown context '{name}' (known contexts: {})",
                known.join(", ")
            )
        }
    }
}

/// `$NOETL_CONFIG_DIR` if set, else `<user config dir>/noetl`.
pub fn config_dir() -> Result<PathBuf> {
    if let Some(dir) = non_empty_env("NOETL_CONFIG_DIR") {
        return Ok(PathBuf::from(dir));
    }
    dirs::config_dir()
        .map(|dir| dir.join("noetl"))
        .ok_or_else(|| anyhow!("cannot determine the user config directory; set NOETL_CONFIG_DIR"))
}

pub fn config_path() -> Result<PathBuf> {
    Ok(config_dir()?.join(CONFIG_FILE_NAME))
}

pub fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
}

/// Checks that `url` is an absolute http(s) URL and drops trailing slashes.
pub fn normalize_server_url(url: &str) -> Result<String> {
    let trimmed = url.trim().trim_end_matches('/');
    crate::client::parse_url(trimmed)
        .map_err(|err| anyhow!("invalid server URL '{url}': {err}"))?;
    Ok(trimmed.to_string())
}

/// `http://host:port`, bracketing IPv6 literals.
pub fn url_from_host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("http://[{host}]:{port}")
    } else {
        format!("http://{host}:{port}")
    }
}

/// Where the CLI sends its requests, highest priority first: `--server-url`, then
/// `--host`/`--port` (either; the other defaults), then the current context, then the default.
pub fn resolve_server_url(
    flag_url: Option<&str>,
    host: Option<&str>,
    port: Option<u16>,
    config: &Config,
) -> Result<String> {
    if let Some(url) = flag_url {
        return normalize_server_url(url);
    }
    if host.is_some() || port.is_some() {
        let url = url_from_host_port(host.unwrap_or(DEFAULT_HOST), port.unwrap_or(DEFAULT_PORT));
        return normalize_server_url(&url);
    }
    if let Some((_, entry)) = config.current()? {
        return Ok(entry.server_url.clone());
    }
    Ok(url_from_host_port(DEFAULT_HOST, DEFAULT_PORT))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_with_current(url: &str) -> Config {
        let mut config = Config::default();
        config.add("dev", url, true).unwrap();
        config
    }

    #[test]
    fn flag_url_wins_over_everything() {
        let config = config_with_current("http://ctx:1");
        let url = resolve_server_url(Some("http://flag:2/"), Some("h"), Some(3), &config).unwrap();
        assert_eq!(url, "http://flag:2");
    }

    #[test]
    fn host_and_port_win_over_context() {
        let config = config_with_current("http://ctx:1");
        let url = resolve_server_url(None, Some("example.org"), Some(9000), &config).unwrap();
        assert_eq!(url, "http://example.org:9000");
    }

    #[test]
    fn host_alone_defaults_port() {
        let url = resolve_server_url(None, Some("example.org"), None, &Config::default()).unwrap();
        assert_eq!(url, "http://example.org:8082");
    }

    #[test]
    fn port_alone_defaults_host() {
        let url = resolve_server_url(None, None, Some(9000), &Config::default()).unwrap();
        assert_eq!(url, "http://localhost:9000");
    }

    #[test]
    fn ipv6_host_is_bracketed() {
        let url = resolve_server_url(None, Some("::1"), Some(9000), &Config::default()).unwrap();
        assert_eq!(url, "http://[::1]:9000");
    }

    #[test]
    fn current_context_used_without_flags() {
        let config = config_with_current("http://ctx:1");
        assert_eq!(
            resolve_server_url(None, None, None, &config).unwrap(),
            "http://ctx:1"
        );
    }

    #[test]
    fn default_url_without_anything() {
        let url = resolve_server_url(None, None, None, &Config::default()).unwrap();
        assert_eq!(url, "http://localhost:8082");
    }

    #[test]
    fn context_without_current_is_ignored() {
        let mut config = Config::default();
        config.add("dev", "http://ctx:1", false).unwrap();
        let url = resolve_server_url(None, None, None, &config).unwrap();
        assert_eq!(url, "http://localhost:8082");
    }

    #[test]
    fn dangling_current_context_is_an_error() {
        let config = Config {
            current_context: Some("gone".into()),
            contexts: BTreeMap::new(),
        };
        let err = resolve_server_url(None, None, None, &config).unwrap_err();
        assert!(err.to_string().contains("unknown context 'gone'"), "{err}");
    }

    #[test]
    fn bad_flag_url_is_rejected() {
        let err = resolve_server_url(Some("ftp://x"), None, None, &Config::default()).unwrap_err();
        assert!(err.to_string().contains("invalid server URL"), "{err}");
        assert!(normalize_server_url("not a url").is_err());
    }

    #[test]
    fn config_round_trip_through_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join(CONFIG_FILE_NAME);
        let mut config = Config::default();
        config.add("local", "http://localhost:8082", false).unwrap();
        config
            .add("prod", "https://noetl.example.org/", true)
            .unwrap();
        config.save(&path).unwrap();

        let loaded = Config::load(&path).unwrap();
        assert_eq!(loaded, config);
        assert_eq!(loaded.current_context.as_deref(), Some("prod"));
        assert_eq!(
            loaded.entry("prod").unwrap().server_url,
            "https://noetl.example.org"
        );
    }

    #[test]
    fn missing_config_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let loaded = Config::load(&dir.path().join(CONFIG_FILE_NAME)).unwrap();
        assert_eq!(loaded, Config::default());
    }

    #[test]
    fn corrupt_config_file_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CONFIG_FILE_NAME);
        fs::write(&path, "contexts: [unclosed").unwrap();
        let err = Config::load(&path).unwrap_err();
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn delete_current_context_unsets_it() {
        let mut config = config_with_current("http://ctx:1");
        assert!(config.delete("dev").unwrap());
        assert_eq!(config.current_context, None);
        assert!(config.contexts.is_empty());
    }

    #[test]
    fn unknown_context_errors_list_known_names() {
        let mut config = config_with_current("http://ctx:1");
        let err = config.use_context("nope").unwrap_err().to_string();
        assert!(
            err.contains("unknown context 'nope'") && err.contains("dev"),
            "{err}"
        );
        assert!(config.delete("nope").is_err());
    }
}
