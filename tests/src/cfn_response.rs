//! Where a custom resource answers CloudFormation: a local stand-in for the presigned S3 URL of
//! `ResponseURL`, which takes every PUT and keeps what it was sent.

use std::sync::{Arc, Mutex};

pub struct ResponseUrl {
    pub url: String,
    answers: Arc<Mutex<Vec<serde_json::Value>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ResponseUrl {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ResponseUrl {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let url = format!("http://{}/cloudformation-response", listener.local_addr().expect("bound"));
        let answers = Arc::new(Mutex::new(Vec::new()));
        let kept = answers.clone();
        let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
            let kept = kept.clone();
            async move {
                kept.lock().unwrap().push(serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null));
                ""
            }
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, answers, task }
    }

    /// What CloudFormation was told, in order.
    pub fn answers(&self) -> Vec<serde_json::Value> {
        self.answers.lock().unwrap().clone()
    }
}
