//! The HTTP notification-log endpoint with a bearer token: requests without it, or with
//! another, are answered 401 (with `WWW-Authenticate: Bearer`) and see nothing; the client with
//! the token reads the log.

use std::io::{Read, Write};
use std::sync::Arc;

use eventsourcing::application::{Application, NotificationLog};
use eventsourcing::interface::http::{HttpNotificationLogInterface, NotificationLogServer};
use eventsourcing::interface::{NotificationLogJsonClient, NotificationLogJsonService};
use eventsourcing::prelude::*;

#[aggregate]
#[derive(Debug)]
pub struct Note {
    text: String,
}

#[aggregate]
impl Note {
    #[created]
    pub fn create(text: String) -> Self {
        Note { text }
    }
}

/// The status line and the whole response of a GET with the given extra header lines.
fn get(addr: std::net::SocketAddr, path: &str, headers: &str) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: test\r\n{headers}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    (response[9..12].parse().unwrap(), response)
}

#[test]
fn only_requests_with_the_token_are_answered() {
    let app = Application::new("Notes").unwrap();
    app.save(&mut Note::create("private".into())).unwrap();
    let service = NotificationLogJsonService::new(Arc::new(app.log().clone()));
    let server = NotificationLogServer::bind_with_token("127.0.0.1:0", service, "s3cret").unwrap();
    let addr = server.local_addr();

    for headers in [
        "",
        "Authorization: Bearer wrong\r\n",
        "Authorization: Basic s3cret\r\n",
    ] {
        let (status, response) = get(addr, "/notifications?start=1&limit=10", headers);
        assert_eq!(status, 401, "{headers:?}: {response}");
        assert!(response.contains("WWW-Authenticate: Bearer"), "{response}");
        assert!(!response.contains("Note"), "{response}");
    }
    let (status, response) = get(addr, "/sections/1,10", "Authorization: Bearer s3cret\r\n");
    assert_eq!(status, 200, "{response}");

    let url = format!("http://{addr}");
    let client = NotificationLogJsonClient::new(
        HttpNotificationLogInterface::new(&url)
            .unwrap()
            .with_token("s3cret"),
    );
    assert_eq!(
        client.select(1, 10).unwrap(),
        app.log().select(1, 10).unwrap()
    );
    let interface = HttpNotificationLogInterface::new(&url)
        .unwrap()
        .with_token("s3cret");
    assert!(
        !format!("{interface:?}").contains("s3cret"),
        "the token is not in Debug output"
    );
    server.stop();

    let service = NotificationLogJsonService::new(Arc::new(app.log().clone()));
    assert!(NotificationLogServer::bind_with_token("127.0.0.1:0", service, "").is_err());
}
