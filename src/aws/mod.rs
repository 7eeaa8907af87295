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
    sdk_config_for(region, endpoint_url, None).await
}

/// `sdk_config` with `geoplan-APP` in the user agent (`app/geoplan-APP`): one
/// `serve` instance's requests can be told apart from another's in AWS's logs, and a
/// test emulator can hang them one-sidedly.
pub async fn sdk_config_for(
    region: &str,
    endpoint_url: Option<&str>,
    app: Option<&str>,
) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3));
    if let Some(app) = app
        && let Ok(name) = aws_config::AppName::new(format!("geoplan-{app}"))
    {
        loader = loader.app_name(name);
    }
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
    route53_for(endpoint_url, None).await
}

/// `route53` with `app` in the user agent (see `sdk_config_for`).
pub async fn route53_for(endpoint_url: Option<&str>, app: Option<&str>) -> aws_sdk_route53::Client {
    let config = sdk_config_for(
        crate::aws::regions::ROUTE53_CONTROL_REGION,
        endpoint_url,
        app,
    )
    .await;
    aws_sdk_route53::Client::new(&config)
}

pub async fn dynamodb(region: &str, endpoint_url: Option<&str>) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&sdk_config(region, endpoint_url).await)
}

/// An AWS call that failed, said for a person: what failed and, when the cause is on
/// the caller's side (no credentials, no connection), what to do about it. The SDK's
/// own account, long and nested, is the source: the CLI shows it only with `-v`.
#[derive(Debug, thiserror::Error)]
#[error("{summary}")]
pub struct CallError {
    pub summary: String,
    #[source]
    pub detail: Detail,
}

/// The SDK's full error text.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Detail(pub String);

/// Explains a failed call to `service` `operation`.
pub fn explain<E, R>(
    service: &str,
    operation: &str,
    e: &aws_sdk_route53::error::SdkError<E, R>,
) -> CallError
where
    E: aws_sdk_route53::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_route53::error::SdkError;
    let detail = aws_sdk_route53::error::DisplayErrorContext(e).to_string();
    let what = format!("{service} {operation} failed");
    let summary = match e {
        SdkError::DispatchFailure(_) if detail.contains("CredentialsNotLoaded") => format!(
            "{what}: no AWS credentials found\n  help: provide them the usual way (AWS_PROFILE, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, ~/.aws/credentials, an instance or task role), or point --endpoint-url / [aws] endpoint_url at a local emulator"
        ),
        SdkError::DispatchFailure(d) if d.is_timeout() || d.is_io() => format!(
            "{what}: cannot reach the AWS endpoint (a network problem, or a wrong --endpoint-url / [aws] endpoint_url)"
        ),
        SdkError::TimeoutError(_) => format!("{what}: timed out"),
        SdkError::ServiceError(s) => {
            let err = s.err();
            match (err.code(), err.message()) {
                (Some(code), Some(message)) => format!("{what}: {code}: {message}"),
                (Some(code), None) => format!("{what}: {code}"),
                _ => format!("{what}: {e}"),
            }
        }
        _ => format!("{what}: {e}"),
    };
    CallError {
        summary,
        detail: Detail(detail),
    }
}
