//! AWS SDK clients, pointed at real AWS or at a local emulator, and the table of
//! region codes.

pub mod regions;

use aws_config::{BehaviorVersion, Region, SdkConfig};

/// Shared SDK configuration for one region. With an emulator endpoint and no
/// credentials in the environment, static dummy credentials are used: emulators
/// accept any signature, and the SDK refuses to sign without some.
///
/// Retries are explicit, not left to the behavior version's defaults: the standard mode,
/// 3 attempts with jittered exponential backoff, on throttling errors (`Throttling`,
/// `PriorRequestNotComplete` among them) and transient ones.
pub async fn sdk_config(region: &str, endpoint_url: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3));
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
            loader = loader.credentials_provider(aws_sdk_route53::config::Credentials::new(
                "test",
                "test",
                None,
                None,
                "geoplan-emulator",
            ));
        }
    }
    loader.load().await
}

pub async fn route53(endpoint_url: Option<&str>) -> aws_sdk_route53::Client {
    let config = sdk_config(crate::aws::regions::ROUTE53_CONTROL_REGION, endpoint_url).await;
    aws_sdk_route53::Client::new(&config)
}

pub async fn dynamodb(region: &str, endpoint_url: Option<&str>) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&sdk_config(region, endpoint_url).await)
}
