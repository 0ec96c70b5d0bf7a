//! An agent in a cluster lets Kubernetes decide who may watch: a client's
//! own token goes to the API server's TokenReview, its user to RBAC
//! (SubjectAccessReview) for this node's syscalls and for its I/O buffers.
//! Here the API server is a stand-in that knows two users: alice, who may
//! watch syscalls but not buffers, and bob, who may not watch. The agent's
//! own token still grants everything.
use std::{process::Command, sync::Arc};

use serde_json::{json, Value};
use tests::{
    agent::{tls_args, trust_args, Agent},
    e2e,
    fake_api::{FakeApi, Request},
    json_run::JsonRun,
    session::serial,
    TempDir,
};

use super::{open_times, token_file, EVENT_TIMEOUT};

const NODE: &str = "node-r";

/// TokenReview and SubjectAccessReview as RBAC would answer them for
/// alice (syscalls, not buffers) and bob (nothing).
fn review(request: &Request) -> Option<(u16, Value)> {
    let spec = &request.body["spec"];
    let path = request.target.split('?').next().unwrap_or_default();
    if path == "/apis/authentication.k8s.io/v1/tokenreviews" {
        let user = match spec["token"].as_str() {
            Some("alice-token") => Some("alice"),
            Some("bob-token") => Some("bob"),
            _ => None,
        };
        let status = match user {
            Some(user) => {
                json!({"authenticated": true, "user": {"username": user, "groups": ["dev"]}})
            }
            None => json!({"authenticated": false, "error": "token unknown"}),
        };
        let answer = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
            "metadata": {}, "spec": spec, "status": status});
        return Some((201, answer));
    }
    if path == "/apis/authorization.k8s.io/v1/subjectaccessreviews" {
        let attributes = &spec["resourceAttributes"];
        let allowed = spec["user"] == "alice"
            && attributes["group"] == "sdtrace.io"
            && attributes["verb"] == "watch"
            && attributes["name"] == NODE
            && attributes["resource"] == "syscalls";
        let answer = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "metadata": {}, "spec": spec, "status": {"allowed": allowed}});
        return Some((201, answer));
    }
    None
}

fn token(dir: &TempDir, name: &str, value: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, value).expect("write a token");
    path.to_str().expect("UTF-8").to_owned()
}

e2e!(
    kubernetes_decides_who_may_watch_and_who_sees_buffers,
    |tracer| {
        let _turn = serial();
        let dir = TempDir::new("agent-review");
        let api = FakeApi::start(Arc::new(review));
        let mut cmd = Command::new(&tracer.bin);
        cmd.args([
            "agent",
            "--node-name",
            NODE,
            "--listen",
            "127.0.0.1:0",
            "--token-file",
        ])
        .arg(token_file(&dir))
        .args(tls_args(&tracer.bin, dir.path()))
        .env("KUBECONFIG", api.kubeconfig(dir.path()));
        let agent = Agent::start(cmd);
        agent.wait_line("the token review to be set up", |lines| {
            lines
                .iter()
                .any(|l| l.contains("own tokens are reviewed by the API server"))
                .then_some(())
        });

        let secret = format!("s3cret-{}", tests::unique_name("buf"));
        let file = dir.path().join("secret.txt");
        std::fs::write(&file, format!("{secret}\n")).expect("write the secret");
        let last = dir.path().join("last.txt");
        std::fs::write(&last, "the end\n").expect("write the last file");
        let client = |token_path: &str, filter: &str| {
            let mut args = vec!["--agent", &agent.address, "--token-file", token_path];
            let trust = trust_args(dir.path());
            args.extend(trust.iter().map(String::as_str));
            args.extend(["-j", "-c", filter]);
            JsonRun::start_in_turn(&tracer, &args)
        };
        let reads = format!(
            "evt.type=read and proc.name=cat and (fd.name={} or fd.name={})",
            file.display(),
            last.display()
        );
        // What buffers say, asked by whoever may not see them, must not
        // answer either: the filter sees them empty too.
        let probing = format!(
            "evt.type=read and proc.name=cat and (evt.buffer contains {secret} or fd.name={})",
            last.display()
        );
        let admin = client(token_file(&dir).to_str().expect("UTF-8"), &reads);
        let alice_token = token(&dir, "alice", "alice-token\n");
        let alice = client(&alice_token, &reads);
        let alice_probing = client(&alice_token, &probing);
        open_times(&file, 2);
        open_times(&last, 1);
        let last_name = last.display().to_string();
        let saw_last = |values: &[Value]| {
            values
                .iter()
                .any(|v| v.to_string().contains(&last_name))
                .then_some(())
        };
        for run in [&admin, &alice, &alice_probing] {
            run.wait_until("the read of the last file", EVENT_TIMEOUT, |out| {
                saw_last(&out.values)
            });
        }
        let (admin, alice, alice_probing) = (
            admin.interrupt(),
            alice.interrupt(),
            alice_probing.interrupt(),
        );
        let text = |values: &[Value]| {
            values
                .iter()
                .map(Value::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert!(
            text(&admin.values).contains(&secret),
            "the agent's token sees buffers: {}",
            text(&admin.values)
        );
        let file_name = file.display().to_string();
        let alice_reads = alice
            .values
            .iter()
            .filter(|v| v.to_string().contains(&file_name))
            .count();
        assert!(
            alice_reads >= 2,
            "alice sees the reads: {}",
            text(&alice.values)
        );
        assert!(
            !text(&alice.values).contains(&secret),
            "alice sees no buffer: {}",
            text(&alice.values)
        );
        assert!(
            !alice_probing
                .values
                .iter()
                .any(|v| v.to_string().contains(&file_name)),
            "alice's filter cannot see buffers either: {}",
            text(&alice_probing.values)
        );

        // bob is known and may not watch this node; a token nobody knows is
        // refused as before.
        let refused = |token_path: &str| {
            let out = Command::new(&tracer.bin)
                .args(["--agent", &agent.address, "--token-file", token_path])
                .args(trust_args(dir.path()))
                .args(["-c", "evt.type=openat", "-n", "1"])
                .output()
                .expect("run the client");
            assert!(!out.status.success(), "refused");
            String::from_utf8_lossy(&out.stderr).into_owned()
        };
        let bob = refused(&token(&dir, "bob", "bob-token\n"));
        assert!(
            bob.contains(&format!(
                "403 Forbidden: user bob may not watch syscalls on node {NODE} (RBAC: verb watch on syscalls.sdtrace.io, resourceName {NODE})"
            )),
            "{bob}"
        );
        let nobody = refused(&token(&dir, "nobody", "who-knows\n"));
        assert!(nobody.contains("refused our token"), "{nobody}");

        let reviews = api
            .requests()
            .iter()
            .filter(|r| r.target.contains("/tokenreviews"))
            .count();
        // alice once (her second stream is answered from the agent's
        // cache), bob once, the unknown token once.
        assert_eq!(reviews, 3, "{:?}", api.requests());
        let stopped = agent.stop();
        assert!(stopped.status.success(), "{:?}", stopped.stderr);
        assert!(
            stopped
                .stderr
                .iter()
                .any(|l| l.contains("(user alice, without I/O buffers)")),
            "{:?}",
            stopped.stderr
        );
    }
);
