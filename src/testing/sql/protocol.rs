//! PostgreSQL's protocol (version 3) as the harness's relays read it: packets and messages
//! framed by their length, nothing more. A relay passes on what it does not need to read.
//!
//! Every message after the first packet is a type byte and a 32-bit length that counts
//! itself; the first packet of a connection (a startup message, or a request for TLS, GSS
//! encryption or a cancel) has a length and a 32-bit code, and no type.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

/// The first packet's codes that are requests rather than a startup message.
pub(crate) const SSL_REQUEST: i32 = 80_877_103;
pub(crate) const GSSENC_REQUEST: i32 = 80_877_104;
pub(crate) const CANCEL_REQUEST: i32 = 80_877_102;

/// Longest message a relay accepts (PostgreSQL's own limit for most messages is 1 GB).
pub(crate) const MAX_MESSAGE: usize = 1 << 30;

/// Reads a message length (which counts its own 4 bytes) and checks it is at least
/// `minimum` and at most [`MAX_MESSAGE`].
pub(crate) async fn read_length(
    reader: &mut (impl AsyncRead + Unpin),
    minimum: usize,
) -> io::Result<usize> {
    let length = reader.read_i32().await?;
    checked_length(length, minimum)
}

fn checked_length(length: i32, minimum: usize) -> io::Result<usize> {
    usize::try_from(length)
        .ok()
        .filter(|n| (minimum..=MAX_MESSAGE).contains(n))
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a protocol message of length {length}"),
            )
        })
}

/// Reads the first packet of a connection whole (its length included), and its code.
pub(crate) async fn read_first_packet(
    reader: &mut (impl AsyncRead + Unpin),
) -> io::Result<(Vec<u8>, i32)> {
    let length = read_length(reader, 8).await?;
    let mut packet = vec![0; length];
    packet[..4].copy_from_slice(&(length as i32).to_be_bytes());
    reader.read_exact(&mut packet[4..]).await?;
    let code = i32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]);
    Ok((packet, code))
}

/// Typed messages read off a stream, whole, without losing a byte when the read is
/// cancelled (a relay stops reading one side when the other ends): what was read stays in
/// the buffer for the next call.
/// Only the relay reads whole batches, and it runs on unix only.
#[cfg(unix)]
#[derive(Debug, Default)]
pub(crate) struct Messages {
    buffer: Vec<u8>,
}

#[cfg(unix)]
impl Messages {
    /// Waits until at least one whole message is buffered, then returns every whole message
    /// buffered (type bytes and lengths included), so that a relay writes them on at once.
    /// `Ok(None)` at the end of the stream between two messages.
    pub(crate) async fn next_batch(
        &mut self,
        reader: &mut (impl AsyncRead + Unpin),
    ) -> io::Result<Option<Vec<u8>>> {
        loop {
            let whole = self.whole_len()?;
            if whole > 0 {
                let rest = self.buffer.split_off(whole);
                return Ok(Some(std::mem::replace(&mut self.buffer, rest)));
            }
            // `read_buf` is cancel-safe: a cancelled read has read nothing.
            if reader.read_buf(&mut self.buffer).await? == 0 {
                return if self.buffer.is_empty() {
                    Ok(None)
                } else {
                    Err(io::ErrorKind::UnexpectedEof.into())
                };
            }
        }
    }

    /// The length of the whole messages at the start of the buffer.
    fn whole_len(&self) -> io::Result<usize> {
        let mut at = 0;
        while let Some(header) = self.buffer.get(at..at + 5) {
            let length = i32::from_be_bytes([header[1], header[2], header[3], header[4]]);
            let end = at + 1 + checked_length(length, 4)?;
            if end > self.buffer.len() {
                break;
            }
            at = end;
        }
        Ok(at)
    }
}

#[cfg(unix)]
/// The messages of a batch: `(type, body)` each.
pub(crate) fn split(batch: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    let mut rest = batch;
    std::iter::from_fn(move || {
        let (&tag, after) = rest.split_first()?;
        let length = i32::from_be_bytes(after.get(..4)?.try_into().ok()?);
        let end = usize::try_from(length).ok()?;
        let body = after.get(4..end)?;
        rest = &after[end..];
        Some((tag, body))
    })
}

#[cfg(unix)]
/// A typed message: `tag`, the length, `body`.
pub(crate) fn message(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 5);
    out.push(tag);
    out.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

#[cfg(unix)]
/// A simple `Query` message running `sql`.
pub(crate) fn query(sql: &str) -> Vec<u8> {
    let mut body = sql.as_bytes().to_vec();
    body.push(0);
    message(b'Q', &body)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn messages_come_whole_and_in_batches() {
        let mut wire = query("SELECT 1");
        wire.extend(message(b'S', &[]));
        let (first, second) = wire.split_at(7);
        let mut reader = tokio_test_reader(vec![first.to_vec(), second.to_vec()]);
        let mut messages = Messages::default();
        let batch = messages
            .next_batch(&mut reader)
            .await
            .expect("read")
            .expect("a batch");
        let tags: Vec<u8> = split(&batch).map(|(tag, _)| tag).collect();
        assert_eq!(tags, [b'Q', b'S']);
        assert_eq!(
            split(&batch).next().map(|(_, body)| body),
            Some(&b"SELECT 1\0"[..])
        );
        assert!(
            messages
                .next_batch(&mut reader)
                .await
                .expect("eof")
                .is_none()
        );
    }

    #[tokio::test]
    async fn a_stream_that_ends_inside_a_message_is_an_error() {
        let wire = query("SELECT 1");
        let mut reader = tokio_test_reader(vec![wire[..6].to_vec()]);
        let err = Messages::default()
            .next_batch(&mut reader)
            .await
            .expect_err("cut short");
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[tokio::test]
    async fn a_negative_length_is_refused() {
        let mut reader = tokio_test_reader(vec![vec![b'Q', 0xff, 0xff, 0xff, 0xff]]);
        let err = Messages::default()
            .next_batch(&mut reader)
            .await
            .expect_err("bad length");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    /// A reader that yields `chunks` one read at a time.
    fn tokio_test_reader(chunks: Vec<Vec<u8>>) -> impl AsyncRead + Unpin {
        let mut all = Vec::new();
        for chunk in chunks {
            all.extend(chunk);
        }
        std::io::Cursor::new(all)
    }
}
