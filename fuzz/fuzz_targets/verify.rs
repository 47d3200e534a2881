//! XML-DSig verification of both profiles: never a panic, and the signed message verifies. The
//! first byte picks the profile and the mode: the rest verified as it is, or read
//! as patches `(offset: u16, byte)` applied to a message validly signed once per run (so that
//! mutations start from a signature that verifies and reach the deep checks).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pix_xmldsig::dsig::{self, Profile};
use pix_xmldsig::signer::SoftwareSigner;
use pix_xmldsig::trust::{Certificate, TrustStore};

const SPI: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Envelope xmlns=\"https://www.bcb.gov.br/pi/pacs.008/1.4\"><AppHdr><Fr><FIId><FinInstnId><Othr><Id>99999010</Id></Othr></FinInstnId></FIId></Fr><To><FIId><FinInstnId><Othr><Id>00038166</Id></Othr></FinInstnId></FIId></To><BizMsgIdr>M9999901020261125100000000000001</BizMsgIdr><MsgDefIdr>pacs.008.spi.1.4</MsgDefIdr><CreDt>2026-11-25T10:00:00.000Z</CreDt><Sgntr/></AppHdr><Document><FIToFICstmrCdtTrf><GrpHdr><MsgId>M1</MsgId></GrpHdr><CdtTrfTxInf><PmtId><EndToEndId>E1</EndToEndId></PmtId><IntrBkSttlmAmt Ccy=\"BRL\">250.00</IntrBkSttlmAmt></CdtTrfTxInf></FIToFICstmrCdtTrf></Document></Envelope>";
const DICT: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CreateEntryRequest><Entry><Key>+5561988880000</Key><KeyType>PHONE</KeyType><Account><Participant>99999010</Participant></Account></Entry><RequestId>a946d533-7f22-42a5-9a9b-e87cd55c0f4d</RequestId></CreateEntryRequest>";

struct Fixture {
    trust: TrustStore,
    signed: [Vec<u8>; 2],
}

/// A throwaway key (made per run, never stored), the trust store holding its certificate, and
/// the two sample messages it signed.
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("key");
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name.push(rcgen::DnType::CommonName, "fuzz");
        let cert = params.self_signed(&key).expect("certificate");
        let signer = SoftwareSigner::from_pem(key.serialize_pem().as_bytes(), cert.pem().as_bytes(), "fuzz")
            .expect("signer");
        let mut trust = TrustStore::new();
        trust
            .add(Certificate::from_pem(cert.pem().as_bytes(), "fuzz").expect("certificate"))
            .expect("trust");
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let sign = |xml: &str, profile| runtime.block_on(dsig::sign(xml.as_bytes(), profile, &signer)).expect("sign");
        let signed = [sign(SPI, Profile::Spi), sign(DICT, Profile::Dict)];
        Fixture { trust, signed }
    })
}

/// Within the test certificate's validity.
const NOW: i64 = 1_800_000_000;

fuzz_target!(|data: &[u8]| {
    let Some((&head, rest)) = data.split_first() else { return };
    let f = fixture();
    let (profile, which) = if head & 1 == 0 { (Profile::Spi, 0) } else { (Profile::Dict, 1) };
    if head & 2 == 0 {
        let _ = dsig::verify(rest, profile, &f.trust, NOW);
        return;
    }
    let mut message = f.signed[which].clone();
    let mut changed = false;
    for patch in rest.chunks_exact(3) {
        let at = usize::from(u16::from_le_bytes([patch[0], patch[1]])) % message.len();
        changed |= message[at] != patch[2];
        message[at] = patch[2];
    }
    let verdict = dsig::verify(&message, profile, &f.trust, NOW);
    // A changed message may still verify where c14n does not see the change (the XML
    // declaration, white space outside the root): the signed canonical bytes are the same.
    if !changed {
        assert!(verdict.is_ok(), "the untouched message verifies: {verdict:?}");
    }
});
