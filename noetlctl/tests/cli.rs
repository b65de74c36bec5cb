//! End-to-end tests of the `noetl` binary against a fake NoETL HTTP server.

mod common;

use base64::Engine as _;
use common::{closed_port, file_name, Env, FakeServer};
use serde_json::{json, Value};

const PLAYBOOK: &str = "apiVersion: noetl.io/v1\nkind: Playbook\nmetadata:\n  name: hello\n  path: examples/hello\nworkflow:\n  - step: start\n";

fn entry(path: &str, name: &str, version: u64) -> Value {
    json!({"path": path, "name": name, "kind": "Playbook", "version": version, "registered_at": "2024-05-01T12:00:00Z"})
}

fn not_found() -> FakeServer {
    FakeServer::start(|_| (404, json!({"detail": "playbook 'nope' not found"})))
}

#[test]
fn version_flag_prints_package_version() {
    let run = Env::new().run(&["--version"]);
    run.assert_ok();
    assert_eq!(run.stdout, format!("noetl {}\n", env!("CARGO_PKG_VERSION")));
}

#[test]
fn catalog_register_posts_base64_content() {
    let server = FakeServer::start(|_| (201, entry("examples/hello", "hello", 3)));
    let env = Env::new();
    let file = env.write("hello.yaml", PLAYBOOK);

    let run = env.run(&[
        "--server-url",
        &server.url,
        "catalog",
        "register",
        file.to_str().unwrap(),
    ]);
    run.assert_ok();
    assert!(
        run.stdout.contains("'examples/hello'") && run.stdout.contains("version 3"),
        "{run:#?}"
    );

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(
        (request.method.as_str(), request.path()),
        ("POST", "/api/catalog/register")
    );
    assert!(request.headers["content-type"].starts_with("application/json"));
    let body = request.json();
    assert_eq!(
        body.as_object().unwrap().len(),
        1,
        "only content_base64 is sent: {body}"
    );
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(body["content_base64"].as_str().unwrap())
        .unwrap();
    assert_eq!(decoded, PLAYBOOK.as_bytes());
}

#[test]
fn catalog_register_json_prints_server_payload() {
    let server = FakeServer::start(|_| (201, entry("examples/hello", "hello", 1)));
    let env = Env::new();
    let file = env.write("hello.yaml", PLAYBOOK);
    let run = env.run(&[
        "--server-url",
        &server.url,
        "--json",
        "catalog",
        "register",
        file.to_str().unwrap(),
    ]);
    run.assert_ok();
    assert_eq!(run.json(), entry("examples/hello", "hello", 1));
}

#[test]
fn bad_playbook_fails_before_any_request() {
    let server = FakeServer::start(|_| (201, entry("x", "x", 1)));
    let env = Env::new();
    let cases: [(&str, &str, &str); 5] = [
        ("broken.yaml", "kind: [unclosed\n", "not valid YAML"),
        ("list.yaml", "- a\n- b\n", "expected a YAML mapping"),
        (
            "kind.yaml",
            &PLAYBOOK.replace("kind: Playbook", "kind: Job"),
            "'kind' must be 'Playbook'",
        ),
        (
            "nopath.yaml",
            &PLAYBOOK.replace("  path: examples/hello\n", ""),
            "missing 'metadata.path'",
        ),
        (
            "noapi.yaml",
            &PLAYBOOK.replace("apiVersion: noetl.io/v1\n", ""),
            "missing 'apiVersion'",
        ),
    ];
    for (name, text, problem) in cases {
        let file = env.write(name, text);
        let run = env.run(&[
            "--server-url",
            &server.url,
            "catalog",
            "register",
            file.to_str().unwrap(),
        ]);
        let line = run.assert_one_line_error();
        assert!(
            line.contains(&file_name(&file)) && line.contains(problem),
            "{name}: {line}"
        );
    }
    let missing = env.run(&[
        "--server-url",
        &server.url,
        "catalog",
        "register",
        "does-not-exist.yaml",
    ]);
    assert!(missing
        .assert_one_line_error()
        .contains("does-not-exist.yaml"));
    assert!(
        server.requests().is_empty(),
        "no request may be sent for a bad file"
    );
}

#[test]
fn catalog_list_renders_a_table() {
    let server = FakeServer::start(|_| {
        (
            200,
            json!({"items": [entry("a/first", "first", 2), entry("b", "second", 1)]}),
        )
    });
    let run = Env::new().run(&["--server-url", &server.url, "catalog", "list"]);
    run.assert_ok();
    let lines: Vec<Vec<&str>> = run
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines.len(), 3, "{run:#?}");
    assert_eq!(lines[0][..4], ["PATH", "NAME", "KIND", "VERSION"]);
    assert_eq!(
        lines[1],
        ["a/first", "first", "Playbook", "2", "2024-05-01T12:00:00Z"]
    );
    assert_eq!(
        lines[2],
        ["b", "second", "Playbook", "1", "2024-05-01T12:00:00Z"]
    );
    let requests = server.requests();
    assert_eq!(
        (requests[0].method.as_str(), requests[0].path()),
        ("GET", "/api/catalog")
    );
}

#[test]
fn catalog_list_json_is_the_server_payload() {
    let payload = json!({"items": [entry("a", "first", 2)]});
    let reply = payload.clone();
    let server = FakeServer::start(move |_| (200, reply.clone()));
    let run = Env::new().run(&["--server-url", &server.url, "catalog", "list", "--json"]);
    run.assert_ok();
    assert_eq!(run.json(), payload);
}

#[test]
fn catalog_list_empty_says_so() {
    let server = FakeServer::start(|_| (200, json!({"items": []})));
    let run = Env::new().run(&["--server-url", &server.url, "catalog", "list"]);
    run.assert_ok();
    assert!(run.stdout.contains("No playbooks registered"), "{run:#?}");
}

#[test]
fn catalog_get_prints_yaml_and_passes_version() {
    let server = FakeServer::start(|_| {
        let mut reply = entry("examples/hello", "hello", 2);
        reply["content"] = json!(PLAYBOOK);
        (200, reply)
    });
    let env = Env::new();
    let run = env.run(&[
        "--server-url",
        &server.url,
        "catalog",
        "get",
        "examples/hello",
        "--version",
        "2",
    ]);
    run.assert_ok();
    assert_eq!(run.stdout, PLAYBOOK);

    let json_run = env.run(&[
        "--server-url",
        &server.url,
        "--json",
        "catalog",
        "get",
        "examples/hello",
    ]);
    json_run.assert_ok();
    assert_eq!(json_run.json()["content"], json!(PLAYBOOK));
    assert_eq!(json_run.json()["version"], json!(2));

    let requests = server.requests();
    assert_eq!(requests[0].path(), "/api/catalog/examples/hello");
    assert_eq!(requests[0].query(), Some("version=2"));
    assert_eq!(requests[1].query(), None);
}

#[test]
fn not_found_is_one_line_with_server_detail() {
    let server = not_found();
    let run = Env::new().run(&["--server-url", &server.url, "catalog", "get", "nope"]);
    assert_eq!(
        run.assert_one_line_error(),
        "error: playbook 'nope' not found"
    );
    assert!(run.stdout.is_empty());
}

#[test]
fn not_found_with_json_still_errors_on_stderr() {
    let server = not_found();
    let run = Env::new().run(&[
        "--server-url",
        &server.url,
        "--json",
        "catalog",
        "get",
        "nope",
    ]);
    assert_eq!(
        run.assert_one_line_error(),
        "error: playbook 'nope' not found"
    );
    assert!(run.stdout.is_empty());
}

#[test]
fn database_not_initialized_detail_is_shown() {
    let server = FakeServer::start(|_| {
        (
            503,
            json!({"detail": "database not initialized: run 'noetl db init'"}),
        )
    });
    let run = Env::new().run(&["--server-url", &server.url, "catalog", "list"]);
    assert_eq!(
        run.assert_one_line_error(),
        "error: database not initialized: run 'noetl db init'"
    );
}

#[test]
fn unreachable_server_is_one_clear_line() {
    let url = format!("http://127.0.0.1:{}", closed_port());
    for args in [
        vec!["catalog", "list"],
        vec!["db", "validate"],
        vec!["catalog", "get", "a/b"],
    ] {
        let mut full = vec!["--server-url", url.as_str()];
        full.extend(args);
        let line = Env::new().run(&full).assert_one_line_error();
        assert!(
            line.starts_with(&format!("error: cannot reach the NoETL server at {url}: ")),
            "{line}"
        );
        assert!(
            line.ends_with("(start it with 'noetl server start' or pass --server-url)"),
            "{line}"
        );
    }
}

/// A server that reads a request's headers, answers nothing and closes the socket with the
/// body unread, as a server over its body limit does: the CLI's write of the body then fails
/// (broken pipe or connection reset), and its one line says what happened and why.
#[test]
fn a_body_cut_off_by_the_server_is_one_clear_line() {
    use std::io::Read;
    use std::net::TcpListener;
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut seen = Vec::new();
        let mut chunk = [0u8; 4096];
        // The headers, and at most 64 KiB of anything.
        while !seen.windows(4).any(|w| w == b"\r\n\r\n") && seen.len() < 64 * 1024 {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&chunk[..n]),
            }
        }
        String::from_utf8_lossy(&seen).into_owned()
        // the stream is dropped here: closed with the body unread
    });

    let env = Env::new();
    // 8 MiB of playbook, over 10 MiB of body: more than loopback's socket buffers take.
    let big = format!("{PLAYBOOK}# {}\n", "x".repeat(8 << 20));
    let file = env.write("big.yaml", &big);
    let mut child = env
        .command(&[
            "--server-url",
            &url,
            "catalog",
            "register",
            file.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("noetl did not stop within 60 s after the server closed the connection");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let run = common::Run::from(child.wait_with_output().unwrap());
    let headers = server.join().unwrap();
    assert!(
        headers.starts_with("POST /api/catalog/register "),
        "{headers}"
    );

    let body_len = base64::engine::general_purpose::STANDARD
        .encode(big.as_bytes())
        .len()
        + r#"{"content_base64":""}"#.len();
    let line = run.assert_one_line_error();
    assert!(
        line.starts_with(&format!(
            "error: the server at {url} closed the connection while the request body ({body_len} bytes) was being sent ("
        )),
        "{line}"
    );
    assert!(
        line.ends_with(
            "): a body over the server's limit (2 MiB unless the server was started with --max-body-size) is refused that way"
        ),
        "{line}"
    );
}

#[test]
fn host_and_port_flags_select_the_server() {
    let server = FakeServer::start(|_| (200, json!({"items": []})));
    let port = server.port.to_string();
    let run = Env::new().run(&["--host", "127.0.0.1", "--port", &port, "catalog", "list"]);
    run.assert_ok();
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn db_init_and_validate() {
    let server = FakeServer::start(|request| match request.path() {
        "/api/db/init" => (200, json!({"status": "initialized", "tables": ["catalog"]})),
        "/api/db/validate" => (
            200,
            json!({"valid": false, "tables": [], "missing": ["catalog"]}),
        ),
        _ => (404, json!({"detail": "no route"})),
    });
    let env = Env::new();
    let init = env.run(&["--server-url", &server.url, "db", "init"]);
    init.assert_ok();
    assert!(
        init.stdout.contains("initialized") && init.stdout.contains("catalog"),
        "{init:#?}"
    );

    let validate = env.run(&["--server-url", &server.url, "--json", "db", "validate"]);
    let line = validate.assert_one_line_error();
    assert!(line.contains("missing tables: catalog"), "{line}");
    assert_eq!(
        validate.json(),
        json!({"valid": false, "tables": [], "missing": ["catalog"]})
    );

    let methods: Vec<(String, String)> = server
        .requests()
        .iter()
        .map(|r| (r.method.clone(), r.path().to_string()))
        .collect();
    assert_eq!(
        methods,
        [
            ("POST".to_string(), "/api/db/init".to_string()),
            ("GET".to_string(), "/api/db/validate".to_string())
        ]
    );
}

#[test]
fn db_validate_valid_exits_zero() {
    let server = FakeServer::start(|_| {
        (
            200,
            json!({"valid": true, "tables": ["catalog"], "missing": []}),
        )
    });
    let run = Env::new().run(&["--server-url", &server.url, "db", "validate"]);
    run.assert_ok();
    assert!(run.stdout.contains("yes"), "{run:#?}");
}

#[test]
fn context_lifecycle() {
    let server = FakeServer::start(|_| (200, json!({"items": []})));
    let env = Env::new();

    let empty = env.run(&["context", "list"]);
    empty.assert_ok();
    assert!(empty.stdout.contains("No contexts"), "{empty:#?}");

    env.run(&["context", "add", "local", "--server-url", &server.url])
        .assert_ok();
    env.run(&[
        "context",
        "add",
        "prod",
        "--server-url",
        "https://noetl.example.org/",
        "--use",
    ])
    .assert_ok();
    assert!(env.config_dir().join("config.yaml").is_file());

    let current = env.run(&["context", "current"]);
    current.assert_ok();
    assert_eq!(current.stdout.trim(), "prod (https://noetl.example.org)");

    let listing = env.run(&["--json", "context", "list"]);
    listing.assert_ok();
    assert_eq!(
        listing.json(),
        json!({"current_context": "prod", "contexts": [
            {"name": "local", "server_url": server.url, "current": false},
            {"name": "prod", "server_url": "https://noetl.example.org", "current": true},
        ]})
    );
    let table = env.run(&["context", "list"]);
    let prod_line = table
        .stdout
        .lines()
        .find(|line| line.contains("prod"))
        .unwrap();
    assert!(prod_line.trim_start().starts_with('*'), "{table:#?}");

    env.run(&["context", "use", "local"]).assert_ok();
    assert_eq!(
        env.run(&["--json", "context", "current"]).json()["name"],
        json!("local")
    );

    // Commands without --server-url now go to the current context's server.
    env.run(&["catalog", "list"]).assert_ok();
    assert_eq!(server.requests().len(), 1);

    let unknown = env
        .run(&["context", "use", "staging"])
        .assert_one_line_error();
    assert!(unknown.contains("unknown context 'staging'"), "{unknown}");
    let unknown = env
        .run(&["context", "delete", "staging"])
        .assert_one_line_error();
    assert!(unknown.contains("unknown context 'staging'"), "{unknown}");

    env.run(&["context", "delete", "local"]).assert_ok();
    let none = env.run(&["context", "current"]).assert_one_line_error();
    assert!(none.contains("no current context"), "{none}");
    let remaining = env.run(&["--json", "context", "list"]).json();
    assert_eq!(remaining["contexts"].as_array().unwrap().len(), 1);
    assert_eq!(remaining["current_context"], Value::Null);
}

#[test]
fn context_add_requires_server_url() {
    let env = Env::new();
    let run = env.run(&["context", "add", "x"]);
    assert_eq!(run.code, Some(2), "{run:#?}");
    assert!(run.stderr.contains("--server-url"), "{run:#?}");
    let bad = env
        .run(&["context", "add", "x", "--server-url", "ftp://nope"])
        .assert_one_line_error();
    assert!(bad.contains("invalid server URL"), "{bad}");
    assert!(!env.config_dir().join("config.yaml").exists());
}

#[test]
fn usage_errors_exit_two() {
    let run = Env::new().run(&["catalog", "frobnicate"]);
    assert_eq!(run.code, Some(2), "{run:#?}");
}
