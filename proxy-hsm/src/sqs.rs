//! `sqs:QUEUE_URL`: each message sent to an SQS queue (aws-sdk-sqs), BACEN's bytes as the body
//! and its attributes as message attributes (`pix-message-type`, `pi-resourceid`,
//! `pix-msg-id`, `pix-end-to-end-id`, `pix-signature-valid`, `pix-signature-error`,
//! `pix-duplicate`). A FIFO queue (`….fifo`) gets the `PI-ResourceId` as deduplication id, so a
//! message BACEN delivers twice within SQS's five minutes is stored once, and the participant's
//! ISPB-wide order as its group. `SendMessage` answering is the hand-off: SQS stores the message
//! redundantly before it answers.

use aws_sdk_sqs::types::MessageAttributeValue;
use proxy_core::consumer::Message;
use proxy_core::consumer::destination::{Destination, HandOff, HandOffError};

/// An SQS queue.
pub struct SqsDestination {
    client: aws_sdk_sqs::Client,
    url: String,
    fifo: bool,
}

impl SqsDestination {
    /// The queue at `url`, through the task's credentials (`endpoint`: an emulator).
    pub async fn new(url: &str, endpoint: Option<&str>) -> SqsDestination {
        let sdk = proxy_core::config::aws::sdk_config(endpoint).await;
        Self::with_client(aws_sdk_sqs::Client::new(&sdk), url)
    }

    /// The queue at `url` through `client`.
    pub fn with_client(client: aws_sdk_sqs::Client, url: &str) -> SqsDestination {
        SqsDestination {
            client,
            url: url.to_string(),
            fifo: url.ends_with(".fifo"),
        }
    }
}

fn text(value: &str) -> Option<MessageAttributeValue> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .ok()
}

impl Destination for SqsDestination {
    fn hand_off<'a>(&'a self, m: &'a Message) -> HandOff<'a> {
        Box::pin(async move {
            let fail = |reason: String| HandOffError {
                destination: self.name(),
                reason,
            };
            let body =
                String::from_utf8(m.body.to_vec()).map_err(|_| fail("the message is not UTF-8".into()))?;
            let mut send = self.client.send_message().queue_url(&self.url).message_body(body);
            let attributes = [
                ("pix-message-type", Some(m.message_type.clone())),
                ("pi-resourceid", Some(m.resource_id.clone())),
                ("pix-msg-id", m.msg_id.clone()),
                ("pix-end-to-end-id", m.end_to_end_id.clone()),
                ("pix-signature-valid", Some(m.signature_valid.to_string())),
                ("pix-signature-error", m.signature_error.clone()),
                ("pix-duplicate", Some(m.duplicate.to_string())),
            ];
            for (name, value) in attributes {
                if let Some(v) = value.filter(|v| !v.is_empty()).as_deref().and_then(text) {
                    send = send.message_attributes(name, v);
                }
            }
            if self.fifo {
                send = send
                    .message_group_id("pix-stream")
                    .message_deduplication_id(m.resource_id.chars().take(128).collect::<String>());
            }
            send.send()
                .await
                .map(|_| ())
                .map_err(|e| fail(aws_sdk_sqs::error::DisplayErrorContext(&e).to_string()))
        })
    }

    fn name(&self) -> String {
        format!("sqs:{}", self.url)
    }
}
