//! A CloudFront distribution as the template makes it, on moto: one origin, sending the
//! origin secret header.

/// Creates it, sending `secret`; its id.
pub async fn create_distribution(cloudfront: &aws_sdk_cloudfront::Client, secret: &str) -> String {
    use aws_sdk_cloudfront::types::{
        CustomHeaders, CustomOriginConfig, DefaultCacheBehavior, DistributionConfig, Origin,
        OriginCustomHeader, OriginProtocolPolicy, Origins, ViewerProtocolPolicy,
    };
    let header = OriginCustomHeader::builder()
        .header_name(stratus_http::origin::ORIGIN_VERIFY_HEADER)
        .header_value(secret)
        .build()
        .unwrap();
    let origin = Origin::builder()
        .id("api")
        .domain_name("api.execute-api.us-east-1.amazonaws.com")
        .custom_origin_config(
            CustomOriginConfig::builder()
                .http_port(80)
                .https_port(443)
                .origin_protocol_policy(OriginProtocolPolicy::HttpsOnly)
                .build()
                .unwrap(),
        )
        .custom_headers(CustomHeaders::builder().quantity(1).items(header).build().unwrap())
        .build()
        .unwrap();
    let config = DistributionConfig::builder()
        .caller_reference(uuid::Uuid::new_v4().to_string())
        .comment("stratus rotation test")
        .enabled(true)
        .origins(Origins::builder().quantity(1).items(origin).build().unwrap())
        .default_cache_behavior(
            DefaultCacheBehavior::builder()
                .target_origin_id("api")
                .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
                .cache_policy_id("4135ea2d-6df8-44a3-9df3-4b5a84be39ad")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let created = cloudfront.create_distribution().distribution_config(config).send().await.unwrap();
    created.distribution.unwrap().id
}
