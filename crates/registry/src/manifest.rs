//! Reading manifests and indexes as registries serve them (OCI and Docker schema2), and
//! writing the manifest of a pushed image.

use gantry_image::{media, Digest, Platform};

use crate::RegistryError;

/// A descriptor, leniently read: registries differ in which optional fields they send.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: String,
    pub size: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<DescriptorPlatform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
}

#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct DescriptorPlatform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct Manifest {
    #[serde(rename = "schemaVersion", default)]
    pub schema_version: u32,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct Index {
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
}

impl Descriptor {
    /// The digest, checked to be a sha256 one (the only algorithm gantry stores).
    pub fn digest(&self) -> Result<Digest, RegistryError> {
        self.digest
            .parse()
            .map_err(|_| RegistryError::Unsupported(format!("unsupported digest {:?}", excerpt(&self.digest))))
    }

    /// The size, checked to be sane.
    pub fn size(&self) -> Result<u64, RegistryError> {
        u64::try_from(self.size)
            .map_err(|_| RegistryError::Protocol(format!("descriptor {} has a negative size", excerpt(&self.digest))))
    }
}

/// What a fetched manifest turned out to be.
pub enum Parsed {
    Image(Manifest),
    Index(Index),
}

/// Parses by media type (falling back on the document's shape).
pub fn parse(media_type: &str, bytes: &[u8]) -> Result<Parsed, RegistryError> {
    let bad = |e: serde_json::Error| RegistryError::Protocol(format!("the registry sent a malformed manifest: {e}"));
    match media_type {
        media::OCI_INDEX | media::DOCKER_MANIFEST_LIST => Ok(Parsed::Index(serde_json::from_slice(bytes).map_err(bad)?)),
        media::OCI_MANIFEST | media::DOCKER_MANIFEST => Ok(Parsed::Image(serde_json::from_slice(bytes).map_err(bad)?)),
        "application/vnd.docker.distribution.manifest.v1+json" | "application/vnd.docker.distribution.manifest.v1+prettyjws" => {
            Err(RegistryError::Unsupported(
                "the image is in the deprecated Docker Image manifest version 2, schema 1 format, which gantry does not pull".into(),
            ))
        }
        _ => {
            let v: serde_json::Value = serde_json::from_slice(bytes).map_err(bad)?;
            if v.get("manifests").is_some() {
                Ok(Parsed::Index(serde_json::from_value(v).map_err(bad)?))
            } else if v.get("config").is_some() {
                Ok(Parsed::Image(serde_json::from_value(v).map_err(bad)?))
            } else {
                Err(RegistryError::Unsupported(format!("unsupported manifest type {:?}", excerpt(media_type))))
            }
        }
    }
}

/// The index entry for `want`: the first whose platform matches (entries without a
/// platform, or attestations marked `unknown/unknown`, never do).
pub fn select<'a>(index: &'a Index, want: &Platform) -> Option<&'a Descriptor> {
    index.manifests.iter().find(|d| {
        matches!(d.media_type.as_str(), media::OCI_MANIFEST | media::DOCKER_MANIFEST | "")
            && d.platform
                .as_ref()
                .is_some_and(|p| want.matches(&Platform::new(&p.os, &p.architecture, p.variant.as_deref())))
    })
}

/// What a reference names in a registry's `/manifests/` path: its digest, else its
/// tag, else `latest` (docker's default tag).
pub fn reference_in_repository(reference: &gantry_image::Reference) -> String {
    match (reference.digest(), reference.tag()) {
        (Some(d), _) => d.to_string(),
        (None, Some(t)) => t.to_string(),
        (None, None) => "latest".to_string(),
    }
}

/// Text from a registry, shortened for a message.
pub(crate) fn excerpt(s: &str) -> String {
    gantry_layer::excerpt(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selects_platform_and_skips_attestations() {
        let index: Index = serde_json::from_str(
            r#"{"manifests":[
              {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:aa","size":1,"platform":{"os":"unknown","architecture":"unknown"}},
              {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:bb","size":1,"platform":{"os":"linux","architecture":"arm","variant":"v7"}},
              {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:cc","size":1,"platform":{"os":"linux","architecture":"amd64"}},
              {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:dd","size":1,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}}
            ]}"#,
        )
        .unwrap();
        let pick = |p: &str| select(&index, &Platform::parse(p).unwrap()).map(|d| d.digest.clone());
        assert_eq!(pick("linux/amd64").as_deref(), Some("sha256:cc"));
        assert_eq!(pick("linux/arm64").as_deref(), Some("sha256:dd"));
        assert_eq!(pick("linux/arm/v7").as_deref(), Some("sha256:bb"));
        assert_eq!(pick("linux/arm/v6"), None);
        assert_eq!(pick("linux/s390x"), None);
    }

    #[test]
    fn parses_by_type_and_shape() {
        let m = br#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:aa","size":2},"layers":[]}"#;
        assert!(matches!(parse(media::DOCKER_MANIFEST, m), Ok(Parsed::Image(_))));
        assert!(matches!(parse("application/json", m), Ok(Parsed::Image(_))));
        assert!(matches!(parse(media::OCI_INDEX, br#"{"manifests":[]}"#), Ok(Parsed::Index(_))));
        assert!(parse(media::OCI_MANIFEST, b"{").is_err());
        assert!(parse("application/vnd.docker.distribution.manifest.v1+prettyjws", m).is_err());
        assert!(parse("text/html", b"<html>").is_err());
    }
}
