use super::Digest;

/// A message the store accepts: any UTF-8 text, the empty string included, of at most
/// [`Message::MAX_BYTES`] bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Message(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a message is at most {max} bytes of UTF-8, this one is {len}", max = Message::MAX_BYTES)]
pub struct MessageTooLong {
    pub len: usize,
}

impl Message {
    pub const MAX_BYTES: usize = 256 * 1024;

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    pub fn digest(&self) -> Digest {
        Digest::of(self.0.as_bytes())
    }
}

impl TryFrom<String> for Message {
    type Error = MessageTooLong;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        if text.len() > Self::MAX_BYTES {
            return Err(MessageTooLong { len: text.len() });
        }
        Ok(Self(text))
    }
}

impl std::fmt::Debug for Message {
    // Message bodies are user content: never let them reach a log through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Message({} bytes)", self.0.len())
    }
}

/// A message together with its address. Built only from the message, so the two always agree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    digest: Digest,
    message: Message,
}

impl StoredMessage {
    pub fn digest(&self) -> Digest {
        self.digest
    }

    pub fn message(&self) -> &Message {
        &self.message
    }
}

impl From<Message> for StoredMessage {
    fn from(message: Message) -> Self {
        Self { digest: message.digest(), message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_is_in_bytes_not_characters() {
        assert!(Message::try_from("a".repeat(Message::MAX_BYTES)).is_ok());
        assert_eq!(
            Message::try_from("a".repeat(Message::MAX_BYTES + 1)),
            Err(MessageTooLong { len: Message::MAX_BYTES + 1 })
        );
        // 4-byte characters: 65,537 of them are 262,148 bytes.
        assert!(Message::try_from("😀".repeat(Message::MAX_BYTES / 4 + 1)).is_err());
    }

    #[test]
    fn debug_hides_content() {
        let message = Message::try_from("secret".to_owned()).unwrap();
        assert_eq!(format!("{message:?}"), "Message(6 bytes)");
    }
}
