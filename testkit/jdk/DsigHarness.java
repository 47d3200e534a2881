// Independent reference for the PIX signature profiles: the JDK's javax.xml.crypto (Apache
// Santuario inside), as the original implementation used it. Run by the tests as a single-file
// program:
//   java --add-exports java.xml.crypto/org.jcp.xml.dsig.internal.dom=ALL-UNNAMED DsigHarness.java \
//        verify spi|dict CERT.pem FILE...          -> one line per file: "OK FILE" or "FAIL FILE reason"
//        sign spi|dict KEY.pem CERT.pem IN OUT     -> writes the signed document to OUT
// For the SPI profile the references `URI=""` (AppHdr) and no URI (Document) are not standard
// same-document references, so a URIDereferencer maps them (DESIGN §3); DOMSubTreeData is the
// JDK's own node-set of a subtree, hence the --add-exports.

import java.io.*;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.security.*;
import java.security.cert.*;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.*;
import javax.xml.crypto.*;
import javax.xml.crypto.dom.DOMURIReference;
import javax.xml.crypto.dsig.*;
import javax.xml.crypto.dsig.dom.*;
import javax.xml.crypto.dsig.keyinfo.*;
import javax.xml.crypto.dsig.spec.*;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.transform.*;
import javax.xml.transform.dom.DOMSource;
import javax.xml.transform.stream.StreamResult;
import javax.security.auth.x500.X500Principal;
import org.jcp.xml.dsig.internal.dom.DOMSubTreeData;
import org.w3c.dom.*;

public class DsigHarness {
    static final String EXC = CanonicalizationMethod.EXCLUSIVE;
    static final String RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";

    public static void main(String[] args) throws Exception {
        if (args.length >= 4 && args[0].equals("verify")) {
            boolean spi = args[1].equals("spi");
            X509Certificate cert = readCert(args[2]);
            boolean allOk = true;
            for (int i = 3; i < args.length; i++) {
                String result;
                try {
                    result = verify(Files.readAllBytes(Paths.get(args[i])), spi, cert);
                } catch (Exception e) {
                    result = e.toString();
                }
                if (result == null) {
                    System.out.println("OK " + args[i]);
                } else {
                    allOk = false;
                    System.out.println("FAIL " + args[i] + " " + result.replace('\n', ' '));
                }
            }
            System.exit(allOk ? 0 : 1);
        } else if (args.length == 6 && args[0].equals("sign")) {
            boolean spi = args[1].equals("spi");
            byte[] out = sign(Files.readAllBytes(Paths.get(args[4])), spi, readKey(args[2]), readCert(args[3]));
            Files.write(Paths.get(args[5]), out);
        } else {
            System.err.println("usage: verify spi|dict CERT FILE... | sign spi|dict KEY CERT IN OUT");
            System.exit(2);
        }
    }

    static Document parse(byte[] xml) throws Exception {
        DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
        f.setNamespaceAware(true);
        f.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
        return f.newDocumentBuilder().parse(new ByteArrayInputStream(xml));
    }

    /** Maps the SPI profile's references: "" is AppHdr, no URI is Document. */
    static final class SpiDereferencer implements URIDereferencer {
        final Element appHdr, document;
        final URIDereferencer standard;
        SpiDereferencer(Document doc, URIDereferencer standard) {
            this.appHdr = only(doc, "AppHdr");
            this.document = only(doc, "Document");
            this.standard = standard;
        }
        public Data dereference(URIReference ref, XMLCryptoContext ctx) throws URIReferenceException {
            String uri = ref.getURI();
            if (uri == null) return new DOMSubTreeData(document, true);
            if (uri.isEmpty()) return new DOMSubTreeData(appHdr, true);
            return standard.dereference(ref, ctx);
        }
    }

    static Element only(Document doc, String local) {
        NodeList l = doc.getElementsByTagNameNS("*", local);
        if (l.getLength() != 1) throw new IllegalArgumentException(l.getLength() + " " + local + " elements");
        return (Element) l.item(0);
    }

    /** Returns null when valid, else the reason. */
    static String verify(byte[] xml, boolean spi, X509Certificate cert) throws Exception {
        Document doc = parse(xml);
        NodeList sigs = doc.getElementsByTagNameNS(XMLSignature.XMLNS, "Signature");
        if (sigs.getLength() != 1) return sigs.getLength() + " signatures";
        // Register Id attributes so that "#id" references resolve (there is no DTD or schema).
        NodeList all = doc.getElementsByTagName("*");
        for (int i = 0; i < all.getLength(); i++) {
            Element e = (Element) all.item(i);
            if (e.hasAttribute("Id")) e.setIdAttribute("Id", true);
        }
        XMLSignatureFactory fac = XMLSignatureFactory.getInstance("DOM");
        DOMValidateContext ctx = new DOMValidateContext(KeySelector.singletonKeySelector(cert.getPublicKey()), sigs.item(0));
        if (spi) ctx.setURIDereferencer(new SpiDereferencer(doc, fac.getURIDereferencer()));
        XMLSignature signature = fac.unmarshalXMLSignature(ctx);
        if (signature.validate(ctx)) return null;
        StringBuilder why = new StringBuilder("invalid:");
        why.append(" signature-value=").append(signature.getSignatureValue().validate(ctx));
        for (Object o : signature.getSignedInfo().getReferences()) {
            Reference r = (Reference) o;
            why.append(" ref[").append(r.getURI()).append("]=").append(r.validate(ctx));
        }
        return why.toString();
    }

    static byte[] sign(byte[] xml, boolean spi, PrivateKey key, X509Certificate cert) throws Exception {
        Document doc = parse(xml);
        XMLSignatureFactory fac = XMLSignatureFactory.getInstance("DOM");
        DigestMethod sha256 = fac.newDigestMethod(DigestMethod.SHA256, null);
        Transform exc = fac.newTransform(EXC, (TransformParameterSpec) null);
        Transform env = fac.newTransform(Transform.ENVELOPED, (TransformParameterSpec) null);
        String keyInfoId = "KI-" + UUID.randomUUID();
        List<Reference> refs = new ArrayList<>();
        refs.add(fac.newReference("#" + keyInfoId, sha256, List.of(exc), null, null));
        refs.add(fac.newReference("", sha256, List.of(env, exc), null, null));
        if (spi) refs.add(fac.newReference(null, sha256, List.of(exc), null, null));
        SignedInfo si = fac.newSignedInfo(
            fac.newCanonicalizationMethod(EXC, (C14NMethodParameterSpec) null),
            fac.newSignatureMethod(RSA_SHA256, null), refs);
        KeyInfoFactory kif = fac.getKeyInfoFactory();
        String issuer = cert.getIssuerX500Principal().getName(X500Principal.RFC2253);
        X509IssuerSerial is = kif.newX509IssuerSerial(issuer, cert.getSerialNumber());
        KeyInfo ki = kif.newKeyInfo(List.of(kif.newX509Data(List.of(is))), keyInfoId);
        DOMSignContext ctx;
        if (spi) {
            Element appHdr = only(doc, "AppHdr");
            NodeList s = appHdr.getElementsByTagNameNS(appHdr.getNamespaceURI(), "Sgntr");
            Element sgntr = (Element) s.item(0);
            if (sgntr == null) {
                sgntr = doc.createElementNS(appHdr.getNamespaceURI(), "Sgntr");
                appHdr.appendChild(sgntr);
            }
            while (sgntr.getFirstChild() != null) sgntr.removeChild(sgntr.getFirstChild());
            ctx = new DOMSignContext(key, sgntr);
            ctx.setURIDereferencer(new SpiDereferencer(doc, fac.getURIDereferencer()));
        } else {
            Element root = doc.getDocumentElement();
            ctx = root.getFirstChild() == null ? new DOMSignContext(key, root)
                                               : new DOMSignContext(key, root, root.getFirstChild());
        }
        ctx.setDefaultNamespacePrefix("ds");
        fac.newXMLSignature(si, ki).sign(ctx);
        Transformer t = TransformerFactory.newInstance().newTransformer();
        t.setOutputProperty(OutputKeys.ENCODING, "UTF-8");
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        t.transform(new DOMSource(doc), new StreamResult(out));
        return out.toByteArray();
    }

    static X509Certificate readCert(String path) throws Exception {
        try (InputStream in = Files.newInputStream(Paths.get(path))) {
            return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
        }
    }

    static PrivateKey readKey(String path) throws Exception {
        String pem = new String(Files.readAllBytes(Paths.get(path)), StandardCharsets.US_ASCII);
        String b64 = pem.replaceAll("-----[A-Z ]+-----", "").replaceAll("\\s", "");
        return KeyFactory.getInstance("RSA").generatePrivate(new PKCS8EncodedKeySpec(Base64.getDecoder().decode(b64)));
    }
}
