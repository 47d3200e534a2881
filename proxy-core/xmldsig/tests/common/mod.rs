//! Helpers shared by proxy-core's end-to-end tests: a throwaway PKI made at test time, the
//! external reference tools (xmllint, lxml, xmlsec1, the JDK), the `pixsig` binary, and sample
//! messages written for these tests.
#![allow(dead_code, missing_docs)]

use std::path::Path;
use std::process::{Command, Output};

#[allow(unused_imports)]
pub use testbase::test_pki::Pki;
#[allow(unused_imports)]
pub use testbase::tools::{fixture, have, have_java, jdk};

pub fn have_xmllint() -> bool {
    have("xmllint", &["--version"])
}

pub fn have_xmlsec1() -> bool {
    have("xmlsec1", &["--version"])
}

pub fn have_lxml() -> bool {
    have("python3", &["-c", "import lxml.etree"])
}

/// The `pixsig` binary of this build.
pub fn pixsig(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pixsig"))
        .args(args)
        .output()
        .expect("run pixsig")
}

/// `pixsig sign --profile P --key K --cert C FILE`.
pub fn pixsig_sign(profile: &str, key: &Path, cert: &Path, file: &Path) -> Output {
    pixsig(&[
        "sign",
        "--profile",
        profile,
        "--key",
        s(key),
        "--cert",
        s(cert),
        s(file),
    ])
}

/// `pixsig verify --profile P --trust T FILE`.
pub fn pixsig_verify(profile: &str, trust: &Path, file: &Path) -> Output {
    pixsig(&["verify", "--profile", profile, "--trust", s(trust), s(file)])
}

/// Runs `pixsig` and returns stdout, failing the test with stderr when it exits non-zero.
pub fn pixsig_ok(args: &[&str]) -> Vec<u8> {
    let out = pixsig(args);
    assert!(
        out.status.success(),
        "pixsig {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// SPI messages written for these tests, each stressing something c14n must get right.
pub fn spi_samples() -> Vec<(&'static str, String)> {
    let document = r#"<Document>
        <FIToFICstmrCdtTrf>
            <GrpHdr><MsgId>M9999901012345678901234567890123</MsgId><CreDtTm>2026-11-25T10:00:00.000Z</CreDtTm><NbOfTxs>1</NbOfTxs><SttlmInf><SttlmMtd>CLRG</SttlmMtd></SttlmInf></GrpHdr>
            <CdtTrfTxInf>
                <PmtId><EndToEndId>E9999901020261125100000000000001</EndToEndId></PmtId>
                <IntrBkSttlmAmt Ccy="BRL">150.75</IntrBkSttlmAmt>
                <Dbtr><Nm>José Conceição &amp; Filhos Ltda</Nm></Dbtr>
                <RmtInf><Ustrd>Pagamento &lt;referência&gt; nº 42 — obrigado! 😀</Ustrd></RmtInf>
            </CdtTrfTxInf>
        </FIToFICstmrCdtTrf>
    </Document>"#;
    let hdr = |extra: &str| {
        format!(
            "<AppHdr><Fr><FIId><FinInstnId><Othr><Id>99999010</Id></Othr></FinInstnId></FIId></Fr>\
             <To><FIId><FinInstnId><Othr><Id>00038166</Id></Othr></FinInstnId></FIId></To>\
             <BizMsgIdr>M9999901012345678901234567890123</BizMsgIdr><MsgDefIdr>pacs.008.spi.1.4</MsgDefIdr>\
             <CreDt>2026-11-25T10:00:00.000Z</CreDt>{extra}</AppHdr>"
        )
    };
    vec![
        (
            "default-namespace",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Envelope xmlns=\"https://www.bcb.gov.br/pi/pacs.008/1.4\">\n{}\n{document}\n</Envelope>\n",
                hdr("<Sgntr/>")
            ),
        ),
        (
            "no-sgntr-yet",
            format!(
                "<Envelope xmlns=\"https://www.bcb.gov.br/pi/pacs.008/1.4\">{}{document}</Envelope>",
                hdr("")
            ),
        ),
        (
            "prefixed-namespaces",
            format!(
                "<Envelope xmlns=\"https://www.bcb.gov.br/pi/pacs.008/1.4\" xmlns:x=\"urn:example:ext\" xmlns:unused=\"urn:unused\">{}<Document x:ver=\"2\"><x:Ext>extensão</x:Ext><Nm>Ana</Nm></Document></Envelope>",
                hdr("<Sgntr></Sgntr>")
            ),
        ),
        (
            "crlf-cdata-entities",
            format!(
                "<?xml version=\"1.0\"?>\r\n<Envelope xmlns=\"https://www.bcb.gov.br/pi/pacs.002/1.3\">\r\n  {}\r\n  <Document>\r\n    <Nm>Maria</Nm><Txt a=\"x&#9;y\" b='quote \"&apos;'>line1\r\nline2&#13;<![CDATA[<raw> & ]]]]><![CDATA[>]]>&#xE9;&#233;</Txt>\r\n  </Document>\r\n</Envelope>\r\n",
                hdr("<Sgntr/>")
            ),
        ),
        (
            "whitespace-comments-pi",
            format!(
                "<!-- before -->\n<?app one?>\n<Envelope xmlns=\"https://www.bcb.gov.br/pi/pibr.001/1.0\">\n\t{}\n\t<Document>  <!-- inside --> <?pi data?><Nm>Pedro</Nm>\n\t\t<EchoTxInf> \t text with  spaces \t </EchoTxInf>\n\t</Document>\n</Envelope>\n<!-- after -->\n",
                hdr("<Sgntr/>")
            ),
        ),
    ]
}

/// DICT documents written for these tests.
pub fn dict_samples() -> Vec<(&'static str, String)> {
    vec![
        (
            "create-entry",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CreateEntryRequest>\n    <Entry>\n        <Key>+5561988880000</Key>\n        <KeyType>PHONE</KeyType>\n        <Account>\n            <Participant>99999010</Participant>\n            <Branch>0001</Branch>\n            <AccountNumber>0007654321</AccountNumber>\n            <AccountType>CACC</AccountType>\n            <OpeningDate>2020-01-10T10:00:00Z</OpeningDate>\n        </Account>\n        <Owner>\n            <Type>NATURAL_PERSON</Type>\n            <TaxIdNumber>11122233300</TaxIdNumber>\n            <Name>João Conceição</Name>\n        </Owner>\n    </Entry>\n    <Reason>USER_REQUESTED</Reason>\n    <RequestId>a946d533-7f22-42a5-9a9b-e87cd55c0f4d</RequestId>\n</CreateEntryRequest>\n".to_string(),
        ),
        (
            "namespaced-and-attributes",
            "<d:CreateClaimRequest xmlns:d=\"urn:example:dict\" xmlns=\"urn:example:default\" d:v=\"1\" z=\"last\" a=\"first &amp; &lt;\"><Claim><Key>user@example.com</Key><x:Note xmlns:x=\"urn:x\">note</x:Note></Claim></d:CreateClaimRequest>".to_string(),
        ),
        (
            "crlf-cdata-self-closing",
            "<?xml version=\"1.0\"?>\r\n<DeleteEntryRequest>\r\n<Key>k<![CDATA[a<b]]>&#x20AC;</Key>\r\n<Empty/>\r\n<Reason>USER&#13;REQUESTED</Reason>\r\n</DeleteEntryRequest>\r\n".to_string(),
        ),
        ("self-closing-root", "<GetEntryRequest Key=\"12345678901\"/>".to_string()),
    ]
}
