//! Keys and certificates made by the test: a CA with a server certificate for
//! 127.0.0.1/localhost (the registry's TLS), and the token service's ES256 signing key
//! with its self-signed certificate (the registry's `rootcertbundle`).

use std::net::{IpAddr, Ipv4Addr};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

/// PEM texts for a TLS registry.
pub(crate) struct TlsFiles {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

fn name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "gantry tests");
    dn.push(DnType::CommonName, cn);
    dn
}

/// A fresh CA and a server certificate it signed, valid for IP 127.0.0.1 and DNS localhost.
pub(crate) fn tls_files() -> TlsFiles {
    let ca_key = KeyPair::generate().expect("generate CA key");
    let mut ca = CertificateParams::default();
    ca.distinguished_name = name("gantry test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca_cert = ca.self_signed(&ca_key).expect("self-sign CA");

    let key = KeyPair::generate().expect("generate server key");
    let mut server = CertificateParams::default();
    server.distinguished_name = name("127.0.0.1");
    server.subject_alt_names = vec![
        SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        SanType::DnsName("localhost".try_into().expect("DNS name")),
    ];
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.use_authority_key_identifier_extension = true;
    let cert = server.signed_by(&key, &ca_cert, &ca_key).expect("sign server certificate");
    TlsFiles { ca_pem: ca_cert.pem(), cert_pem: cert.pem(), key_pem: key.serialize_pem() }
}

/// The token service's signing identity: an ECDSA P-256 key and its self-signed
/// certificate. The registry trusts the certificate (`rootcertbundle`); each token names
/// it in its `x5c` header, which distribution verifies against that bundle.
pub(crate) struct TokenSigner {
    key: EcdsaKeyPair,
    rng: ring::rand::SystemRandom,
    pub cert_pem: String,
    pub cert_der: Vec<u8>,
}

impl TokenSigner {
    pub fn new() -> TokenSigner {
        let key = KeyPair::generate().expect("generate token signing key");
        let mut params = CertificateParams::default();
        params.distinguished_name = name("gantry test token signer");
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let cert = params.self_signed(&key).expect("self-sign token certificate");
        let rng = ring::rand::SystemRandom::new();
        let signing = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &key.serialize_der(), &rng)
            .expect("load token signing key");
        TokenSigner { key: signing, rng, cert_pem: cert.pem(), cert_der: cert.der().to_vec() }
    }

    /// An ES256 signature of `data` as JWS wants it: r || s, 64 bytes.
    pub fn sign(&self, data: &[u8]) -> Vec<u8> {
        self.key.sign(&self.rng, data).expect("sign token").as_ref().to_vec()
    }

    /// `n` random bytes as hex (token IDs, refresh tokens).
    pub fn random_hex(&self, n: usize) -> String {
        use ring::rand::SecureRandom;
        let mut buf = vec![0u8; n];
        self.rng.fill(&mut buf).expect("random bytes");
        hex::encode(buf)
    }
}

/// A bcrypt hash of `password` (the only scheme distribution's htpasswd accepts), at the
/// lowest cost so that the registry checks it quickly.
pub(crate) fn bcrypt_hash(password: &str) -> String {
    bcrypt::hash(password, 4).expect("bcrypt hash")
}
