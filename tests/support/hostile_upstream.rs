//! The fixture of the misbehaving-upstream suites: a gateway in front of a
//! scripted upstream that plays one queued script per connection, alice's
//! ticketed customer and another customer whose data the upstream tries to
//! slip through, and the raw answers the scripts are built from.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use crate::hostile::{self, Grant, Oracle, Scripted, Step};
use crate::support::upstream::raw;
use crate::support::{bearer, Behaviour, Reply, TestEnv};
use keyhole::demo::data::Customer;

/// Scripts handed out one per upstream connection, in order.
pub type Queue = Arc<Mutex<VecDeque<Vec<Step>>>>;

pub struct Fixture {
    pub env: TestEnv,
    pub queue: Queue,
    /// The ticketed customer (alice's T-1001, hardware).
    pub own: Customer,
    /// Someone else, whose data the upstream will try to slip through.
    pub other: Customer,
    pub oracle: Oracle,
}

impl Fixture {
    pub async fn start() -> Fixture {
        Self::start_with(|_| {}).await
    }

    /// [`Fixture::start`] with a chance to adjust the config after the fixture's own settings.
    pub async fn start_with(adjust: impl FnOnce(&mut keyhole::config::Config)) -> Fixture {
        let queue: Queue = Arc::default();
        let scripts = queue.clone();
        let upstream = Scripted::start(move |_| {
            let next = scripts.lock().expect("lock").pop_front();
            next.unwrap_or_default()
        })
        .await;
        let url = upstream.url();
        let env = TestEnv::start_with(Behaviour::Forward, move |c| {
            c.upstream.url = url;
            c.upstream.response_timeout_ms = 400;
            c.limits.max_response_bytes = 64 * 1024;
            adjust(c);
        })
        .await;
        let own = env.hardware_customer().clone();
        let other = env.customer_other_than(&own.id).clone();
        let oracle = Oracle::new(&env.data);
        Fixture {
            env,
            queue,
            own,
            other,
            oracle,
        }
    }

    /// Alice asks for her ticketed customer while the upstream plays `script`.
    pub async fn ask(&self, script: Vec<Step>) -> Reply {
        let auth = bearer(&self.env.alice());
        self.ask_with(
            script,
            &[("authorization", &auth), ("x-ticket-id", "T-1001")],
        )
        .await
    }

    /// Bob, who holds no ticket, asks for the same customer.
    pub async fn ask_unticketed(&self, script: Vec<Step>) -> Reply {
        let auth = bearer(&self.env.bob());
        self.ask_with(script, &[("authorization", &auth)]).await
    }

    pub async fn ask_with(&self, script: Vec<Step>, headers: &[(&str, &str)]) -> Reply {
        self.queue.lock().expect("lock").push_back(script);
        let url = format!("{}/customers/{}", self.env.base(), self.own.id);
        self.env.h1().get(&url, headers).await
    }

    /// Alice, under her ticket, asks while the upstream answers 200 with the
    /// JSON `body`: the answer is judged and passed on, and shows nothing her
    /// ticket does not justify.
    pub async fn judged(&self, body: &[u8], case: &str) -> Reply {
        let reply = self.ask(answer(raw(200, &[JSON], body))).await;
        self.judged_clean(&reply, Some(&self.grant()), case);
        reply
    }

    /// [`Fixture::judged`] for bob, who holds no ticket: nothing sensitive of
    /// anyone may show.
    pub async fn judged_unticketed(&self, body: &[u8], case: &str) -> Reply {
        let reply = self.ask_unticketed(answer(raw(200, &[JSON], body))).await;
        self.judged_clean(&reply, None, case);
        reply
    }

    fn judged_clean(&self, reply: &Reply, grant: Option<&Grant>, case: &str) {
        assert_eq!(
            reply.status,
            200,
            "{case}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        self.oracle.assert_clean(&reply.all_bytes(), grant, case);
    }

    pub fn grant(&self) -> Grant {
        Grant::new(&self.own.id, "hardware")
    }

    /// The ticketed customer's record with another customer's data mixed in.
    pub fn tainted_record(&self) -> Vec<u8> {
        let mut record = hostile::record_value(&self.own);
        record["other"] = hostile::record_value(&self.other);
        record.to_string().into_bytes()
    }

    /// Nothing of anyone may be in a withheld response.
    pub fn withheld(&self, reply: &Reply, case: &str, status: u16, code: &str) {
        assert_eq!(
            reply.status,
            status,
            "{case}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        assert_eq!(reply.error_code(), code, "{case}");
        self.oracle.assert_clean(&reply.all_bytes(), None, case);
    }
}

/// The upstream reads the request, then writes `bytes`.
pub fn answer(bytes: Vec<u8>) -> Vec<Step> {
    vec![Step::Read, Step::Write(bytes)]
}

pub const JSON: (&str, &str) = ("content-type", "application/json");

/// A chunked 200 answer with `headers`, one chunk per entry of `chunks`.
pub fn chunked(headers: &[(&str, &str)], chunks: &[&[u8]]) -> Vec<u8> {
    let mut out =
        b"HTTP/1.1 200 OK\r\nconnection: close\r\ntransfer-encoding: chunked\r\n".to_vec();
    for (k, v) in headers {
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    for chunk in chunks {
        out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}
