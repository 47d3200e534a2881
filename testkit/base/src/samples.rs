//! The project's sample messages (`samples/`), built in: the demo and the tests read no file of
//! the tree at run time.

/// `samples/pacs.008.xml`: a credit transfer.
pub const PACS_008: &str = include_str!("../../../samples/pacs.008.xml");
/// `samples/pacs.002.xml`: a payment status report.
pub const PACS_002: &str = include_str!("../../../samples/pacs.002.xml");
/// `samples/pacs.004.xml`: a refund (of the pacs.008's payment, by its payee).
pub const PACS_004: &str = include_str!("../../../samples/pacs.004.xml");
/// `samples/pibr.001.xml`: an echo.
pub const PIBR_001: &str = include_str!("../../../samples/pibr.001.xml");
/// `samples/dict-create-entry.xml`: a DICT CreateEntryRequest.
pub const DICT_CREATE_ENTRY: &str = include_str!("../../../samples/dict-create-entry.xml");

/// A sample by its file name, e.g. `pacs.008.xml`.
pub fn sample(name: &str) -> Option<&'static str> {
    Some(match name {
        "pacs.008.xml" => PACS_008,
        "pacs.002.xml" => PACS_002,
        "pacs.004.xml" => PACS_004,
        "pibr.001.xml" => PIBR_001,
        "dict-create-entry.xml" => DICT_CREATE_ENTRY,
        _ => return None,
    })
}

/// A sample's bytes by its file name; panics on a name that is not a sample (tests only).
pub fn bytes(name: &str) -> Vec<u8> {
    sample(name)
        .unwrap_or_else(|| panic!("no sample {name}"))
        .as_bytes()
        .to_vec()
}

/// A participant's pibr.002 answering BACEN's echo: from `ispb`, carrying `data` (the echo's
/// `MsgId`, which BACEN's pibr.001 carries in its `Data`).
pub fn echo_answer(ispb: &str, data: &str) -> String {
    PIBR_001
        .replace("pibr.001", "pibr.002")
        .replace("EchoReq", "EchoRspn")
        .replace(
            "<Id>99999010</Id></Othr></FinInstnId></FIId></Fr>",
            &format!("<Id>{ispb}</Id></Othr></FinInstnId></FIId></Fr>"),
        )
        .replace("<Data>ping</Data>", &format!("<Data>{data}</Data>"))
}

/// [`PACS_008`] with `n` credit transfers (BACEN's catalog examples carry ten): the sample's
/// transaction repeated, each with its own `EndToEndId` (the sample's, its last two digits the
/// transaction's number, 01 to `n`), and `NbOfTxs` `n`.
pub fn pacs_008_batch(n: usize) -> String {
    const E2E: &str = "E9999901020261125100000000000001";
    let start = PACS_008.find("      <CdtTrfTxInf>").unwrap_or(0);
    let end = PACS_008
        .find("    </FIToFICstmrCdtTrf>")
        .unwrap_or(PACS_008.len());
    let one = &PACS_008[start..end];
    let all: String = (1..=n)
        .map(|i| one.replace(E2E, &format!("{}{i:02}", &E2E[..30])))
        .collect();
    format!("{}{all}{}", &PACS_008[..start], &PACS_008[end..])
        .replace("<NbOfTxs>1</NbOfTxs>", &format!("<NbOfTxs>{n}</NbOfTxs>"))
}
