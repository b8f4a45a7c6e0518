//! Both forwarding modes over real loopback sockets: byte-exact large transfers both ways and
//! half-close (one side's FIN leaves the other direction open).

use std::io;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;

/// A connected (outside, inside) pair of loopback streams.
async fn pair() -> io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let outside = TcpStream::connect(listener.local_addr()?).await?;
    let (inside, _) = listener.accept().await?;
    Ok((outside, inside))
}

/// client ⇄ [proxy: client_side | endpoint_side] ⇄ endpoint, forwarded by `mode`.
struct Rig {
    client: TcpStream,
    endpoint: TcpStream,
    forward: tokio::task::JoinHandle<io::Result<(u64, u64)>>,
    up: Arc<AtomicU64>,
    down: Arc<AtomicU64>,
}

async fn rig(mode: Mode) -> io::Result<Rig> {
    let (client, client_side) = pair().await?;
    let (endpoint_side, endpoint) = pair().await?;
    let up = Arc::new(AtomicU64::new(0));
    let down = Arc::new(AtomicU64::new(0));
    let forward = {
        let (up, down) = (up.clone(), down.clone());
        tokio::spawn(async move {
            let counters = Counters {
                upstream: &up,
                downstream: &down,
            };
            forward(&client_side, &endpoint_side, mode, counters).await
        })
    };
    Ok(Rig {
        client,
        endpoint,
        forward,
        up,
        down,
    })
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[0] ^ seed)
        .collect()
}

async fn large_transfer_is_exact(mode: Mode) -> io::Result<()> {
    const LEN: usize = 8 * 1024 * 1024;
    let Rig {
        client,
        endpoint,
        forward,
        up,
        down,
    } = rig(mode).await?;
    let to_endpoint = pattern(LEN, 0x5a);
    let to_client = pattern(LEN, 0xa5);
    let (mut client_r, mut client_w) = client.into_split();
    let (mut endpoint_r, mut endpoint_w) = endpoint.into_split();
    let (sent_up, sent_down, got_up, got_down) = {
        let (a, b) = (to_endpoint.clone(), to_client.clone());
        tokio::try_join!(
            async move {
                client_w.write_all(&a).await?;
                client_w.shutdown().await
            },
            async move {
                endpoint_w.write_all(&b).await?;
                endpoint_w.shutdown().await
            },
            async move {
                let mut buf = Vec::new();
                endpoint_r.read_to_end(&mut buf).await.map(|_| buf)
            },
            async move {
                let mut buf = Vec::new();
                client_r.read_to_end(&mut buf).await.map(|_| buf)
            },
        )?
    };
    let ((), ()) = (sent_up, sent_down);
    assert!(
        got_up == to_endpoint,
        "client→endpoint bytes differ ({mode:?})"
    );
    assert!(
        got_down == to_client,
        "endpoint→client bytes differ ({mode:?})"
    );
    let totals = forward.await.map_err(io::Error::other)??;
    assert_eq!(totals, (LEN as u64, LEN as u64));
    assert_eq!(up.load(Ordering::Relaxed), LEN as u64);
    assert_eq!(down.load(Ordering::Relaxed), LEN as u64);
    Ok(())
}

async fn half_close_keeps_other_direction(mode: Mode) -> io::Result<()> {
    let Rig {
        mut client,
        mut endpoint,
        forward,
        ..
    } = rig(mode).await?;
    client.write_all(b"request").await?;
    client.shutdown().await?;
    let mut request = Vec::new();
    endpoint.read_to_end(&mut request).await?;
    assert_eq!(request, b"request");
    // The endpoint saw EOF but can still answer, and the client still receives.
    endpoint.write_all(b"response after FIN").await?;
    endpoint.shutdown().await?;
    let mut response = Vec::new();
    client.read_to_end(&mut response).await?;
    assert_eq!(response, b"response after FIN");
    let totals = forward.await.map_err(io::Error::other)??;
    assert_eq!(totals, (7, 18));
    Ok(())
}

#[tokio::test]
async fn splice_moves_large_payloads_exactly() -> io::Result<()> {
    large_transfer_is_exact(Mode::native()).await
}

#[tokio::test]
async fn copy_moves_large_payloads_exactly() -> io::Result<()> {
    large_transfer_is_exact(Mode::Copy).await
}

#[tokio::test]
async fn splice_half_close() -> io::Result<()> {
    half_close_keeps_other_direction(Mode::native()).await
}

#[tokio::test]
async fn copy_half_close() -> io::Result<()> {
    half_close_keeps_other_direction(Mode::Copy).await
}

/// Small request/response exchanges (the copy path with drained-socket readiness), then a bulk
/// burst each way (the switch to splice in `Mode::Splice`), then small exchanges again: every
/// byte arrives, in order, and half-close still ends the connection cleanly.
async fn exchanges_then_bulk_then_exchanges(mode: Mode) -> io::Result<()> {
    const ROUNDS: usize = 200;
    const BULK: usize = 1024 * 1024;
    let Rig {
        mut client,
        mut endpoint,
        forward,
        up,
        down,
    } = rig(mode).await?;
    let mut expected_up = 0u64;
    let mut expected_down = 0u64;
    let exchange = async |client: &mut TcpStream, endpoint: &mut TcpStream, round: usize| {
        let request = format!("request {round}\n");
        client.write_all(request.as_bytes()).await?;
        let mut got = vec![0u8; request.len()];
        endpoint.read_exact(&mut got).await?;
        assert_eq!(got, request.as_bytes(), "request {round} ({mode:?})");
        let response = pattern(100 + round, round as u8);
        endpoint.write_all(&response).await?;
        let mut got = vec![0u8; response.len()];
        client.read_exact(&mut got).await?;
        assert!(got == response, "response {round} differs ({mode:?})");
        io::Result::Ok((request.len() as u64, response.len() as u64))
    };
    for round in 0..ROUNDS {
        let (u, d) = exchange(&mut client, &mut endpoint, round).await?;
        expected_up += u;
        expected_down += d;
    }
    for (seed, upward) in [(1u8, true), (2, false)] {
        let payload = pattern(BULK, seed);
        let (from, to) = match upward {
            true => (&mut client, &mut endpoint),
            false => (&mut endpoint, &mut client),
        };
        let mut got = vec![0u8; BULK];
        tokio::try_join!(from.write_all(&payload), to.read_exact(&mut got))?;
        assert!(got == payload, "bulk ({upward}) differs ({mode:?})");
        match upward {
            true => expected_up += BULK as u64,
            false => expected_down += BULK as u64,
        }
    }
    for round in 0..ROUNDS {
        let (u, d) = exchange(&mut client, &mut endpoint, round).await?;
        expected_up += u;
        expected_down += d;
    }
    client.shutdown().await?;
    let mut rest = Vec::new();
    endpoint.read_to_end(&mut rest).await?;
    assert!(rest.is_empty(), "nothing after the client's FIN");
    endpoint.shutdown().await?;
    client.read_to_end(&mut rest).await?;
    assert!(rest.is_empty(), "nothing after the endpoint's FIN");
    let totals = forward.await.map_err(io::Error::other)??;
    assert_eq!(totals, (expected_up, expected_down));
    assert_eq!(up.load(Ordering::Relaxed), expected_up);
    assert_eq!(down.load(Ordering::Relaxed), expected_down);
    Ok(())
}

#[tokio::test]
async fn splice_mode_small_exchanges_and_bulk() -> io::Result<()> {
    exchanges_then_bulk_then_exchanges(Mode::native()).await
}

#[tokio::test]
async fn copy_mode_small_exchanges_and_bulk() -> io::Result<()> {
    exchanges_then_bulk_then_exchanges(Mode::Copy).await
}

/// The same on a multi-threaded runtime, where the proxy's task and the peers run on different
/// threads (readiness races between a short read and new data).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn splice_mode_exchanges_across_threads() -> io::Result<()> {
    exchanges_then_bulk_then_exchanges(Mode::native()).await
}

/// Both peers send their last bytes and FIN at once: each still gets the other's bytes and end
/// of stream (whether the proxy half-closed or left both FINs to the close).
async fn both_close_at_once(mode: Mode) -> io::Result<()> {
    let Rig {
        mut client,
        mut endpoint,
        forward,
        ..
    } = rig(mode).await?;
    client.write_all(b"last request").await?;
    endpoint.write_all(b"last response").await?;
    client.shutdown().await?;
    endpoint.shutdown().await?;
    let (mut at_endpoint, mut at_client) = (Vec::new(), Vec::new());
    tokio::try_join!(
        endpoint.read_to_end(&mut at_endpoint),
        client.read_to_end(&mut at_client),
    )?;
    assert_eq!(at_endpoint, b"last request");
    assert_eq!(at_client, b"last response");
    let totals = forward.await.map_err(io::Error::other)??;
    assert_eq!(totals, (12, 13));
    Ok(())
}

#[tokio::test]
async fn splice_mode_both_close_at_once() -> io::Result<()> {
    both_close_at_once(Mode::native()).await
}

#[tokio::test]
async fn copy_mode_both_close_at_once() -> io::Result<()> {
    both_close_at_once(Mode::Copy).await
}

/// The endpoint answers and closes before the proxy reads (the FIN is queued behind the
/// response): the client gets the response and end of stream promptly (the corked last bytes
/// go out with the half-close), and can still send to the endpoint afterwards.
async fn answer_and_close_before_the_proxy_reads(mode: Mode) -> io::Result<()> {
    let Rig {
        mut client,
        mut endpoint,
        forward,
        ..
    } = rig(mode).await?;
    endpoint.write_all(b"response, then FIN").await?;
    endpoint.shutdown().await?;
    let mut response = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        client.read_to_end(&mut response),
    )
    .await
    .map_err(|_| io::Error::other("last bytes and FIN held back"))??;
    assert_eq!(response, b"response, then FIN");
    client.write_all(b"late request").await?;
    client.shutdown().await?;
    let mut request = Vec::new();
    endpoint.read_to_end(&mut request).await?;
    assert_eq!(request, b"late request");
    let totals = forward.await.map_err(io::Error::other)??;
    assert_eq!(totals, (12, 18));
    Ok(())
}

#[tokio::test]
async fn splice_mode_answer_and_close_before_read() -> io::Result<()> {
    answer_and_close_before_the_proxy_reads(Mode::native()).await
}

#[tokio::test]
async fn copy_mode_answer_and_close_before_read() -> io::Result<()> {
    answer_and_close_before_the_proxy_reads(Mode::Copy).await
}
