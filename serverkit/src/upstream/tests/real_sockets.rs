//! The client over real loopback sockets.

use super::*;

/// Real sockets: a fresh source port and ID per query (RFC 5452 §9.2), a wrong-ID datagram
/// ignored, TC=1 answered over TCP.
#[tokio::test]
async fn real_sockets_vary_ports_and_ids_and_retry_over_tcp() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const QUERIES: usize = 100;
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let server = udp.local_addr().expect("addr");
    let tcp = tokio::net::TcpListener::bind(server)
        .await
        .expect("bind tcp");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let rec = Arc::clone(&seen);
    let u = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((n, from)) = udp.recv_from(&mut buf).await {
            let q = buf[..n].to_vec();
            rec.lock()
                .expect("lock")
                .push((from.port(), u16_at(&q, 0).unwrap_or(0)));
            let tc = q[12 + 1] == b't';
            let good = reply(&q, 0, tc, None);
            let _ = udp
                .send_to(&with_id(good.clone(), !u16_at(&q, 0).unwrap_or(0)), from)
                .await;
            let _ = udp.send_to(&good, from).await;
        }
    });
    let tcp_task = tokio::spawn(async move {
        while let Ok((mut s, _)) = tcp.accept().await {
            let n = usize::from(s.read_u16().await.expect("len"));
            let mut q = vec![0u8; n];
            s.read_exact(&mut q).await.expect("query");
            let r = reply(&q, 0, false, None);
            let mut framed = (r.len() as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(&r);
            s.write_all(&framed).await.expect("write");
        }
    });
    let c = Client::new(Arc::new(RealTransport), Options::default());
    let got = c
        .exchange(server, &udp_query(question("tc.example", A)), &Quiet)
        .await
        .expect("tcp answer");
    assert!(got.tcp);
    for i in 0..QUERIES {
        let q = udp_query(question(&format!("n{i}.example"), A));
        assert!(
            !c.exchange(server, &q, &Quiet)
                .await
                .expect("udp answer")
                .tcp
        );
    }
    u.abort();
    tcp_task.abort();
    let seen = seen.lock().expect("lock").clone();
    let ports: std::collections::HashSet<_> = seen.iter().map(|p| p.0).collect();
    let ids: std::collections::HashSet<_> = seen.iter().map(|p| p.1).collect();
    assert_eq!(seen.len(), QUERIES + 1);
    assert!(ports.len() >= QUERIES / 2, "{} ports", ports.len());
    assert!(ids.len() >= QUERIES - 3, "{} IDs", ids.len());
}
