//! The bank's keys of the CloudHSM flavour made on a throwaway SoftHSM token and certified by a
//! dev PKI: what the Fargate set-up and its tests sign with.

/// RSA keys made on the token under `keys` (label, certificate file name, for mTLS clients),
/// each certified by the PSP CA of `pki`: the bank's keys of the CloudHSM flavour, on SoftHSM.
pub fn keys_on_token(
    dev: &testkit::softhsm::DevToken,
    pki: &simulator::pki::DevPki,
    keys: &[(&str, &str, bool)],
) -> proxy_hsm::pkcs11::Token {
    let token = proxy_hsm::pkcs11::Token::open(
        std::path::Path::new(testkit::softhsm::MODULE),
        Some(&dev.label),
        &dev.pin,
    )
    .expect("token");
    for (label, name, client) in keys {
        token.generate_rsa_key(label).expect("key");
        let (n, e) = token.public_key(label).expect("public key");
        pki.issue(name, label, *client, &n, &e).expect("certificate");
    }
    token
}

/// A fresh token holding the bank's two keys of the CloudHSM flavour (`PIX_SIGNATURE`,
/// `PIX_MTLS`), certified by a fresh dev PKI as `sig-hsm.cer` and `mtls-hsm.cer`; `None` (saying
/// why) where SoftHSM cannot be used.
pub struct BankKeys {
    /// The token (deleted on drop).
    pub dev: testkit::softhsm::DevToken,
    /// The opened token.
    pub token: proxy_hsm::pkcs11::Token,
    /// The dev PKI, under `dir/pki`.
    pub pki: simulator::pki::DevPki,
    /// The working directory (deleted on drop).
    pub dir: tempfile::TempDir,
}

/// See [`BankKeys`].
pub fn bank_keys() -> Option<BankKeys> {
    let dev = testkit::softhsm::softhsm()?;
    let dir = tempfile::tempdir().expect("dir");
    let pki = simulator::pki::DevPki::generate(&dir.path().join("pki")).expect("pki");
    let token = keys_on_token(
        &dev,
        &pki,
        &[
            ("PIX_SIGNATURE", "sig-hsm", false),
            ("PIX_MTLS", "mtls-hsm", true),
        ],
    );
    Some(BankKeys { dev, token, pki, dir })
}

impl BankKeys {
    /// The CloudHSM flavour's parameters for these keys against `sim` (by its dev name, connected
    /// at loopback), trusting `bacen_signature` (one or more PEM certificates) for BACEN's
    /// signatures: full names to values, as `proxy-hsm serve --parameters` reads them.
    pub fn parameters(
        &self,
        sim: &simulator::Simulator,
        bacen_signature: &str,
    ) -> std::collections::HashMap<String, String> {
        self.parameters_at(sim.spi.port(), sim.dict.port(), bacen_signature)
    }

    /// [`BankKeys::parameters`] for a BACEN (the simulator, or a test's hostile server with the
    /// simulator's identity) listening at loopback on `spi` and `dict`.
    pub fn parameters_at(
        &self,
        spi: u16,
        dict: u16,
        bacen_signature: &str,
    ) -> std::collections::HashMap<String, String> {
        use simulator::pki::TLS_NAME;
        let read = |name: &str| std::fs::read_to_string(self.pki.path(name)).expect("read");
        [
            ("SignatureKeyLabel", "PIX_SIGNATURE".to_string()),
            ("SignatureCertificate", read("sig-hsm.cer")),
            ("MtlsKeyLabel", "PIX_MTLS".into()),
            ("MtlsCertificate", read("mtls-hsm.cer")),
            ("DictAuditStream", "pix-proxy-test-dict".into()),
            ("SpiAuditStream", "pix-proxy-test-spi".into()),
            ("BcbDictEndpoint", format!("{TLS_NAME}:{dict}")),
            ("BcbSpiEndpoint", format!("{TLS_NAME}:{spi}")),
            ("BcbSignatureCertificate", bacen_signature.to_string()),
            ("BcbMtlsCertificate", read("bacen-ca.cer")),
        ]
        .into_iter()
        .map(|(k, v)| (format!("{}{k}", proxy_hsm::configured::FLAVOUR.prefix()), v))
        .collect()
    }

    /// The token's secret as `proxy-hsm serve --secret` reads it (`--pin-format plain`).
    pub fn secret_json(&self) -> String {
        format!(
            r#"{{"HSM_USER":"crypto_user","HSM_PASSWORD":"{}"}}"#,
            self.dev.pin
        )
    }

    /// `proxy-hsm serve` with these keys (SoftHSM, `--pin-format plain`), the `parameters` and
    /// `secret` files, audit records as files under `audit`, BACEN at loopback, listening on
    /// `ports` (SPI, DICT, health).
    pub fn serve(
        &self,
        parameters: &std::path::Path,
        secret: &std::path::Path,
        audit: &std::path::Path,
        (spi, dict, check): (u16, u16, u16),
    ) -> std::process::Command {
        let mut command = self.command("serve", parameters, secret, audit);
        command
            .args(["--spi-port", &spi.to_string(), "--dict-port", &dict.to_string()])
            .args(["--check-port", &check.to_string()]);
        command
    }

    /// [`BankKeys::serve`] as the deployment runs it for authenticated callers: client
    /// certificates of the dev PKI's bank CA (`--client-ca`), the proxy's TLS identity, the
    /// callers `policy` file; logging at `info` to `log`.
    pub fn serve_authenticated(
        &self,
        (parameters, secret, audit): (&std::path::Path, &std::path::Path, &std::path::Path),
        ports: (u16, u16, u16),
        policy: &std::path::Path,
        log: &std::path::Path,
    ) -> testkit::process::Killed {
        testkit::process::Killed(
            self.serve(parameters, secret, audit, ports)
                .arg("--client-ca")
                .arg(self.pki.path("bank-ca.cer"))
                .arg("--tls-certificate")
                .arg(self.pki.path("proxy-tls.cer"))
                .arg("--tls-key")
                .arg(self.pki.path("proxy-tls.key"))
                .arg("--callers")
                .arg(policy)
                .env("RUST_LOG", "info")
                .stdout(std::process::Stdio::null())
                .stderr(std::fs::File::create(log).expect("log"))
                .spawn()
                .expect("proxy-hsm"),
        )
    }

    /// `proxy-hsm <subcommand>` (`serve`, `consume`) with these keys, the `parameters` and
    /// `secret` files, audit records as files under `audit`, BACEN at loopback.
    pub fn command(
        &self,
        subcommand: &str,
        parameters: &std::path::Path,
        secret: &std::path::Path,
        audit: &std::path::Path,
    ) -> std::process::Command {
        let mut command = std::process::Command::new(crate::binaries::proxy_hsm());
        command
            .arg(subcommand)
            .arg("--parameters")
            .arg(parameters)
            .arg("--secret")
            .arg(secret)
            .args([
                "--module",
                testkit::softhsm::MODULE,
                "--token-label",
                &self.dev.label,
            ])
            .args(["--pin-format", "plain", "--audit", "files", "--audit-dir"])
            .arg(audit)
            .args(["--resolve", "127.0.0.1"]);
        command
    }

    /// [`BankKeys::serve`] on free ports, logging at `info` to `log`, re-reading its parameters
    /// only on `SIGHUP`: started, and ready. The process and its SPI address.
    pub async fn started(
        &self,
        parameters: &std::path::Path,
        secret: &std::path::Path,
        audit: &std::path::Path,
        log: &std::path::Path,
    ) -> (testkit::process::Killed, std::net::SocketAddr) {
        let port = || testkit::tools::free_port().expect("port");
        let (spi, dict, check) = (port(), port(), port());
        let proxy = testkit::process::Killed(
            self.serve(parameters, secret, audit, (spi, dict, check))
                .args(["--refresh-seconds", "3600"])
                .env("RUST_LOG", "info")
                .stdout(std::process::Stdio::null())
                .stderr(std::fs::File::create(log).expect("log"))
                .spawn()
                .expect("proxy-hsm"),
        );
        let local = |p| std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, p));
        testkit::process::wait_ready(local(check)).await;
        (proxy, local(spi))
    }
}
