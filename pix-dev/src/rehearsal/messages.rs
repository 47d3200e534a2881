//! The SPI messages the rehearsal's banks send, in the versions BACEN's catalog names (the
//! samples' layout, `samples/`): payments, statuses, refunds and echo answers between any two
//! participants. pacs.008 and pacs.002 are valid against BACEN's schemas of catalog 5.13.1
//! (pacs.008 1.16, pacs.002 1.17; checked by `pix-dev/tests/schemas.rs`); the others follow the
//! same catalog's conventions, unchecked (docs/simulator.md).

use std::collections::HashMap;

/// BACEN's ISPB, the `To` of every message a participant sends.
const BACEN: &str = "00038166";

/// A payee's status (pacs.002) of a payment or refund BACEN delivered to it.
#[derive(Debug, Clone)]
pub struct Status {
    /// Who answers.
    pub payee: String,
    /// A refund's `RtrId` (`OrgnlInstrId`; a payment's is its `EndToEndId`).
    pub instruction: Option<String>,
    /// The payment's `EndToEndId`.
    pub e2e: String,
    /// `ACSP` or `RJCT`.
    pub status: String,
    /// A rejection's reason code.
    pub reason: Option<String>,
}

impl Status {
    /// `payee`'s `status` of payment `e2e`.
    pub fn of(payee: &str, e2e: &str, status: &str) -> Status {
        Status {
            payee: payee.to_string(),
            instruction: None,
            e2e: e2e.to_string(),
            status: status.to_string(),
            reason: None,
        }
    }
}

/// Message versions by type (`pacs.008` → `1.16`), as the catalog lists them.
#[derive(Debug, Clone)]
pub struct Versions(HashMap<String, String>);

impl Versions {
    /// The samples' versions.
    pub fn samples() -> Self {
        Versions(
            [
                ("pacs.008", "1.16"),
                ("pacs.002", "1.17"),
                ("pacs.004", "1.3"),
                ("pibr.002", "1.0"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        )
    }

    /// The versions of an ICOM catalog (`<MsgDefIdr>pacs.008.spi.1.16</MsgDefIdr>` …); types it
    /// does not list keep the samples' version.
    pub fn from_catalog(xml: &str) -> Self {
        let mut v = Self::samples();
        for item in xml.split("<MsgDefIdr>").skip(1) {
            let def = item.split('<').next().unwrap_or("");
            if let Some((kind, version)) = def.split_once(".spi.") {
                v.0.insert(kind.to_string(), version.to_string());
            }
        }
        v
    }

    /// The same with `kind` at `version`.
    pub fn with(&self, kind: &str, version: &str) -> Self {
        let mut v = self.clone();
        v.0.insert(kind.to_string(), version.to_string());
        v
    }

    fn of(&self, kind: &str) -> &str {
        self.0.get(kind).map_or("1.0", String::as_str)
    }

    /// The envelope of a message of `kind` from `from` to BACEN around `document`.
    fn envelope(&self, kind: &str, from: &str, msg_id: &str, document: &str) -> String {
        let version = self.of(kind);
        let now = now();
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Envelope xmlns=\"https://www.bcb.gov.br/pi/{kind}/{version}\">\
             <AppHdr><Fr><FIId><FinInstnId><Othr><Id>{from}</Id></Othr></FinInstnId></FIId></Fr>\
             <To><FIId><FinInstnId><Othr><Id>{BACEN}</Id></Othr></FinInstnId></FIId></To>\
             <BizMsgIdr>{msg_id}</BizMsgIdr><MsgDefIdr>{kind}.spi.{version}</MsgDefIdr><CreDt>{now}</CreDt><Sgntr/></AppHdr>\
             <Document>{document}</Document></Envelope>"
        )
    }

    /// A payment of `amount` from `payer`'s customer to `payee`'s.
    pub fn pacs008(&self, payer: &str, payee: &str, msg_id: &str, e2e: &str, amount: &str) -> String {
        let now = now();
        let document = format!(
            "<FIToFICstmrCdtTrf><GrpHdr><MsgId>{msg_id}</MsgId><CreDtTm>{now}</CreDtTm><NbOfTxs>1</NbOfTxs>\
             <SttlmInf><SttlmMtd>CLRG</SttlmMtd></SttlmInf>\
             <PmtTpInf><InstrPrty>HIGH</InstrPrty><SvcLvl><Prtry>PAGPRI</Prtry></SvcLvl></PmtTpInf></GrpHdr>\
             <CdtTrfTxInf><PmtId><EndToEndId>{e2e}</EndToEndId></PmtId>\
             <IntrBkSttlmAmt Ccy=\"BRL\">{amount}</IntrBkSttlmAmt><AccptncDtTm>{now}</AccptncDtTm><ChrgBr>SLEV</ChrgBr>\
             <MndtRltdInf><Tp><LclInstrm><Prtry>MANU</Prtry></LclInstrm></Tp></MndtRltdInf>\
             <Dbtr><Nm>Maria da Conceição</Nm><Id><PrvtId><Othr><Id>12345678909</Id></Othr></PrvtId></Id></Dbtr>\
             <DbtrAcct><Id><Othr><Id>123456</Id><Issr>0001</Issr></Othr></Id><Tp><Cd>CACC</Cd></Tp></DbtrAcct>\
             <DbtrAgt><FinInstnId><ClrSysMmbId><MmbId>{payer}</MmbId></ClrSysMmbId></FinInstnId></DbtrAgt>\
             <CdtrAgt><FinInstnId><ClrSysMmbId><MmbId>{payee}</MmbId></ClrSysMmbId></FinInstnId></CdtrAgt>\
             <Cdtr><Id><PrvtId><Othr><Id>98765432100</Id></Othr></PrvtId></Id></Cdtr>\
             <CdtrAcct><Id><Othr><Id>654321</Id><Issr>0002</Issr></Othr></Id><Tp><Cd>TRAN</Cd></Tp></CdtrAcct>\
             <Purp><Cd>IPAY</Cd></Purp><RmtInf><Ustrd>Ensaio de homologação</Ustrd></RmtInf></CdtTrfTxInf></FIToFICstmrCdtTrf>"
        );
        self.envelope("pacs.008", payer, msg_id, &document)
    }

    /// The payee's status of a payment or refund.
    pub fn pacs002(&self, s: &Status) -> String {
        let now = now();
        let msg_id = proxy_core::wire::spi_id('M', &s.payee);
        let instruction = s.instruction.as_deref().unwrap_or(&s.e2e);
        let reason = s
            .reason
            .as_ref()
            .map(|r| format!("<StsRsnInf><Rsn><Cd>{r}</Cd></Rsn></StsRsnInf>"))
            .unwrap_or_default();
        let document = format!(
            "<FIToFIPmtStsRpt><GrpHdr><MsgId>{msg_id}</MsgId><CreDtTm>{now}</CreDtTm></GrpHdr>\
             <TxInfAndSts><OrgnlInstrId>{instruction}</OrgnlInstrId><OrgnlEndToEndId>{}</OrgnlEndToEndId>\
             <TxSts>{}</TxSts>{reason}</TxInfAndSts></FIToFIPmtStsRpt>",
            s.e2e, s.status
        );
        self.envelope("pacs.002", &s.payee, &msg_id, &document)
    }

    /// A refund by `returner` (the original payee) of payment `e2e` to `payer`, with BACEN's
    /// return reason code (`MD06` customer request, `FR01` fraud, `BE08` the PSP's error).
    pub fn pacs004(
        &self,
        returner: &str,
        payer: &str,
        msg_id: &str,
        rtr_id: &str,
        e2e: &str,
        reason: &str,
    ) -> String {
        let now = now();
        let document = format!(
            "<PmtRtr><GrpHdr><MsgId>{msg_id}</MsgId><CreDtTm>{now}</CreDtTm><NbOfTxs>1</NbOfTxs>\
             <SttlmInf><SttlmMtd>CLRG</SttlmMtd></SttlmInf></GrpHdr><TxInf><RtrId>{rtr_id}</RtrId>\
             <OrgnlEndToEndId>{e2e}</OrgnlEndToEndId><RtrdIntrBkSttlmAmt Ccy=\"BRL\">10.00</RtrdIntrBkSttlmAmt>\
             <SttlmPrty>HIGH</SttlmPrty><RtrChain>\
             <Dbtr><Pty><Id><PrvtId><Othr><Id>98765432100</Id></Othr></PrvtId></Id></Pty></Dbtr>\
             <DbtrAgt><FinInstnId><ClrSysMmbId><MmbId>{returner}</MmbId></ClrSysMmbId></FinInstnId></DbtrAgt>\
             <CdtrAgt><FinInstnId><ClrSysMmbId><MmbId>{payer}</MmbId></ClrSysMmbId></FinInstnId></CdtrAgt>\
             <Cdtr><Pty><Nm>Maria da Conceição</Nm></Pty></Cdtr></RtrChain>\
             <RtrRsnInf><Rsn><Cd>{reason}</Cd></Rsn></RtrRsnInf></TxInf></PmtRtr>"
        );
        self.envelope("pacs.004", returner, msg_id, &document)
    }

    /// A participant's answer to BACEN's echo: `data` is the echo's `MsgId`.
    pub fn pibr002(&self, from: &str, msg_id: &str, data: &str) -> String {
        let now = now();
        let document = format!(
            "<EchoRspn><GrpHdr><MsgId>{msg_id}</MsgId><CreDtTm>{now}</CreDtTm></GrpHdr>\
             <EchoTxInf><Data>{data}</Data></EchoTxInf></EchoRspn>"
        );
        self.envelope("pibr.002", from, msg_id, &document)
    }
}

fn now() -> String {
    proxy_core::wire::utc_now()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_come_from_the_catalog() {
        let v = Versions::from_catalog("<Catalog><MsgDefIdr>pacs.008.spi.1.13</MsgDefIdr></Catalog>");
        assert!(v.pacs008("1", "2", "M", "E", "1.00").contains("pacs.008/1.13"));
        assert!(
            v.pacs004("1", "2", "M", "D", "E", "MD06")
                .contains("pacs.004.spi.1.3")
        );
    }
}
