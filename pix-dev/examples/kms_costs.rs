//! Cold start and CPU per message of the KMS flavour, with moto's server as AWS and the simulator
//! as BACEN (both in this process or beside it, not in the one measured).
//!
//! Cold start: from spawning `proxy-kms serve` (configuration read from SSM and Secrets Manager,
//! KMS `GetPublicKey` checked) to its "ready" log line, and to the first answered message.
//! CPU per message: user + system time of that process over N sequential pacs.008, i.e. our own
//! work beyond the KMS call (moto does KMS's part in its own process).
//!
//! With `RUNTIME_API=1` the process is the `bootstrap` binary under the Lambda runtime API
//! (`cargo lambda watch --only-lambda-apis`, not measured) and each message is an API Gateway
//! REST event sent to the Invoke endpoint, as in Lambda; otherwise `proxy-kms serve` over HTTP.
//!
//! `cargo build --release -p proxy-kms && [KEEP_ALIVE=1] [RUNTIME_API=1] cargo run --release -p pix-dev --example kms_costs [RUNS] [MESSAGES]`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pix_dev::kms as demo;
use testkit::bank::{call, cpu_seconds};

use testkit::lambda as event;
use testkit::lambda as runtime_api;

#[tokio::main]
async fn main() -> Result<(), String> {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let (runs, messages) = (
        args.first().copied().unwrap_or(5),
        args.get(1).copied().unwrap_or(300),
    );
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let binary = exe
        .parent()
        .and_then(|p| p.parent())
        .map(|p| p.join("proxy-kms"))
        .filter(|p| p.exists())
        .ok_or("build the binary first: cargo build --release -p proxy-kms")?;
    let body = testkit::samples::PACS_008.as_bytes().to_vec();

    let moto = testkit::aws::Moto::start()?;
    let (clients, s3) = demo::moto_clients(&moto.endpoint);
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let bank = demo::provision(&clients, &s3, dir.path()).await?;
    // moto's server closes every connection after one answer; AWS keeps them alive. With
    // KEEP_ALIVE=1 the proxy talks to moto through the (fault-free) fault proxy, which keeps the
    // proxy's connections open, so that the measured process pays what it would against AWS.
    let relay = testkit::aws::FaultProxy::start(&moto.endpoint)
        .await
        .map_err(|e| e.to_string())?;
    let endpoint = if std::env::var("KEEP_ALIVE").as_deref() == Ok("1") {
        relay.endpoint.clone()
    } else {
        moto.endpoint.clone()
    };

    // Under the runtime API: one emulator for every run (the function's cold starts are measured).
    let runtime_api = std::env::var("RUNTIME_API").as_deref() == Ok("1");
    let emulator = if runtime_api {
        Some(runtime_api::Emulator::start().await?)
    } else {
        None
    };
    let xml = std::str::from_utf8(&body).map_err(|e| e.to_string())?;
    let msgs = "/api/v1/in/99999010/msgs";
    // What is sent for one message, and the status that says it was accepted.
    let (path, headers, payload): (&str, [(&str, &str); 1], Vec<u8>) = if runtime_api {
        (
            runtime_api::INVOKE_PATH,
            [("content-type", "application/json")],
            event::rest_event("POST", msgs, None, Some(xml), false).into_bytes(),
        )
    } else {
        (
            msgs,
            [("content-type", "application/xml; charset=utf-8")],
            body.clone(),
        )
    };
    let accepted = |status: u16, answer: &[u8]| {
        if runtime_api {
            status == 200 && String::from_utf8_lossy(answer).contains("\"statusCode\":201")
        } else {
            status == 201
        }
    };

    let mut ready = Vec::new();
    let mut first = Vec::new();
    let mut cpu = Vec::new();
    for run in 0..runs {
        let port = testkit::tools::free_port()?;
        let started = Instant::now();
        let mut command = match &emulator {
            Some(emulator) => emulator.function(&binary, &endpoint),
            None => {
                let mut c = Command::new(&binary);
                c.args(["serve", "--family", "spi", "--aws-endpoint", &endpoint])
                    .args(["--listen", &format!("127.0.0.1:{port}")]);
                c
            }
        };
        let mut child = command
            .env("AWS_ACCESS_KEY_ID", "demo")
            .env("AWS_SECRET_ACCESS_KEY", "demo")
            .env("AWS_REGION", "sa-east-1")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let mut lines = BufReader::new(stderr).lines();
        loop {
            match lines.next() {
                Some(Ok(line)) if line.contains("\"ready\"") => break,
                Some(Ok(_)) => {}
                _ => return Err("proxy-kms ended before it was ready".into()),
            }
        }
        let to_ready = started.elapsed();
        // Keep draining its log so that it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, emulator.as_ref().map_or(port, |e| e.port)));
        let (status, _, answer) = call(addr, "POST", path, &headers, payload.clone()).await?;
        if !accepted(status, &answer) {
            return Err(format!(
                "first message: {status} {}",
                String::from_utf8_lossy(&answer)
            ));
        }
        let to_first = started.elapsed();
        let idle_from = cpu_seconds(child.id());
        tokio::time::sleep(Duration::from_secs(1)).await;
        let idle = cpu_seconds(child.id()) - idle_from;
        // One kept-alive connection, as API Gateway's invocations do not open one each.
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let before = cpu_seconds(child.id());
        let t = Instant::now();
        for _ in 0..messages {
            let req = http::Request::post(path)
                .header("host", "localhost")
                .header(headers[0].0, headers[0].1)
                .body(http_body_util::Full::new(bytes::Bytes::from(payload.clone())))
                .map_err(|e| e.to_string())?;
            sender
                .ready()
                .await
                .map_err(|e| format!("connection to the proxy: {e}"))?;
            let r = sender.send_request(req).await.map_err(|e| format!("send: {e}"))?;
            let status = r.status().as_u16();
            let answer = http_body_util::BodyExt::collect(r.into_body())
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            if !accepted(status, &answer) {
                return Err(format!("status {status}"));
            }
        }
        let per_message = (cpu_seconds(child.id()) - before) / messages as f64;
        let wall = t.elapsed() / messages as u32;
        let _ = child.kill();
        let _ = child.wait();
        eprintln!(
            "run {run}: ready {:.0} ms, first answer {:.0} ms, {:.3} ms CPU/msg, {:.1} ms wall/msg, idle CPU {:.0} ms/s",
            to_ready.as_secs_f64() * 1e3,
            to_first.as_secs_f64() * 1e3,
            per_message * 1e3,
            wall.as_secs_f64() * 1e3,
            idle * 1e3
        );
        ready.push(to_ready);
        first.push(to_first);
        cpu.push(per_message);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ready.sort();
    first.sort();
    cpu.sort_by(f64::total_cmp);
    println!("KMS flavour, {runs} cold starts, {messages} messages each (medians):");
    println!(
        "  process start -> ready (config from SSM + Secrets Manager, GetPublicKey): {:.0} ms",
        ready[runs / 2].as_secs_f64() * 1e3
    );
    println!(
        "  process start -> first message answered: {:.0} ms",
        first[runs / 2].as_secs_f64() * 1e3
    );
    println!(
        "  our CPU per message (sign via KMS, mTLS, verify, audit to Firehose): {:.3} ms",
        cpu[runs / 2] * 1e3
    );
    bank.simulator.shutdown().await;
    Ok(())
}
