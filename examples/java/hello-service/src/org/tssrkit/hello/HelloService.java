/*
 * hello-service: the sample HTTP service that deploy-java.sh puts into production.
 *
 * It uses the JDK only: com.sun.net.httpserver (module jdk.httpserver) is a small HTTP server that
 * ships with every OpenJDK, so the jar has no dependency to download. Build and run it:
 *
 *   examples/java/build.sh jar examples/java/hello-service/src 1.0.0 build/java/hello-service-1.0.0.jar
 *   PORT=18080 java -jar build/java/hello-service-1.0.0.jar
 *
 * Settings come from the environment, the way a systemd unit passes them (Environment=...):
 *   BIND_ADDRESS  the address to listen on (default 127.0.0.1: only Apache, on the same host, reaches it)
 *   PORT          the TCP port, 1-65535 (default 8080); anything else: a message, exit status 2
 *   DATA_DIR      optional: a folder the service may write; GET / counts its visits there
 *
 * Endpoints: GET / (name and version), GET /health (JSON for monitoring), GET /version.
 * HEAD is accepted wherever GET is; other methods get 405, other paths 404.
 *
 * Logs go to stdout, one line per request: under systemd they land in the journal
 * (journalctl -u SERVICE), which adds the date, so the lines do not repeat it.
 */
package org.tssrkit.hello;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

public final class HelloService {

    private static final String NAME = "hello-service";
    private static final String DEFAULT_BIND_ADDRESS = "127.0.0.1";
    private static final int DEFAULT_PORT = 8080;
    /** Exit status for a bad setting, like a shell script's usage error. */
    private static final int EXIT_USAGE = 2;
    /** Exit status when the port cannot be opened (already in use, not allowed...). */
    private static final int EXIT_FAILURE = 1;
    private static final String TEXT = "text/plain; charset=utf-8";

    /**
     * The version written in the jar's manifest (Implementation-Version, set by build.sh).
     * Run from plain .class files, outside a jar, there is no manifest: "dev".
     */
    private static final String VERSION = readVersion();

    /** Where GET / counts its visits, or null when DATA_DIR is not set. */
    private final Path visitsFile;

    private HelloService(Path visitsFile) {
        this.visitsFile = visitsFile;
    }

    public static void main(String[] args) {
        String bindAddress = envOrDefault("BIND_ADDRESS", DEFAULT_BIND_ADDRESS);
        int port = parsePort(envOrDefault("PORT", String.valueOf(DEFAULT_PORT)));

        InetSocketAddress address = new InetSocketAddress(bindAddress, port);
        if (address.isUnresolved()) {
            System.err.println(NAME + ": invalid BIND_ADDRESS '" + bindAddress + "': the name cannot be resolved");
            System.exit(EXIT_USAGE);
        }

        String dataDir = System.getenv("DATA_DIR");
        Path visitsFile = (dataDir == null || dataDir.isEmpty()) ? null : Path.of(dataDir, "visits");
        HelloService service = new HelloService(visitsFile);

        HttpServer server;
        try {
            // Backlog 0: the system's default length for the queue of connections not yet accepted.
            server = HttpServer.create(address, 0);
        } catch (IOException e) {
            System.err.println(NAME + ": cannot listen on " + bindAddress + ":" + port + ": " + e.getMessage());
            System.exit(EXIT_FAILURE);
            return; // not reached: tells the compiler that server is set below
        }
        // One handler for every path: it chooses the answer itself, so unknown paths get a clean 404.
        server.createContext("/", service::handle);
        // No executor set: requests are handled one at a time by the server's own thread. Plenty for
        // a sample, and the visit counter needs no locking.
        server.setExecutor(null);

        // systemctl stop sends SIGTERM: the JVM then runs its shutdown hooks before it exits.
        // server.stop(1) stops accepting connections and gives running requests up to 1 second.
        // The JVM then exits with status 143 (128 + 15, the number of SIGTERM): the systemd unit
        // counts it as a normal stop with SuccessExitStatus=143.
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println(NAME + " " + VERSION + " stopping");
            server.stop(1);
        }, "shutdown"));

        // start() returns at once: the server's own thread keeps the program running after main ends.
        server.start();
        InetSocketAddress bound = server.getAddress();
        System.out.println(NAME + " " + VERSION + " listening on "
                + bound.getAddress().getHostAddress() + ":" + bound.getPort());
    }

    /** Answers one request, then logs it: method, path, status. */
    private void handle(HttpExchange exchange) throws IOException {
        int status = 500;
        try {
            status = respond(exchange);
        } finally {
            // Always close the exchange, even after an error, or the connection would hang.
            exchange.close();
            // getRawPath() keeps the %-escapes: a request cannot write a fake log line with "%0A".
            System.out.println(exchange.getRequestMethod() + " " + exchange.getRequestURI().getRawPath()
                    + " " + status);
        }
    }

    /** Chooses and sends the answer; returns the HTTP status sent. */
    private int respond(HttpExchange exchange) throws IOException {
        String method = exchange.getRequestMethod();
        String path = exchange.getRequestURI().getPath();
        boolean head = "HEAD".equals(method);

        if (!"GET".equals(method) && !head) {
            exchange.getResponseHeaders().set("Allow", "GET, HEAD");
            return send(exchange, 405, TEXT, "method not allowed\n", false);
        }
        // A switch expression (Java 14+): each case gives the value, no fall-through possible.
        return switch (path) {
            // HEAD only asks for the headers: it is not a visit, so it does not count.
            case "/" -> send(exchange, 200, TEXT, homeBody(!head), head);
            case "/health" -> send(exchange, 200, "application/json",
                    "{\"status\":\"ok\",\"version\":\"" + jsonEscape(VERSION) + "\"}", head);
            case "/version" -> send(exchange, 200, TEXT, VERSION + "\n", head);
            default -> send(exchange, 404, TEXT, "not found\n", head);
        };
    }

    /** The body of GET /: name and version, then the visit count when DATA_DIR is set. */
    private String homeBody(boolean countVisit) {
        String body = NAME + " " + VERSION + "\n";
        if (visitsFile != null && countVisit) {
            long visits = countVisit();
            if (visits > 0) {
                body += "visits: " + visits + "\n";
            }
        }
        return body;
    }

    /**
     * Adds one to the number in DATA_DIR/visits and returns the new number, or -1 when it cannot.
     *
     * The new number is written to a temporary file in the same folder, then renamed over the old
     * file: a rename within a folder is atomic, so a reader (or a crash) never sees a half-written
     * file. When the folder is not writable (that is what the deploy tests check: the service may
     * write only where its unit allows it), a warning goes to stderr and the page still answers 200.
     */
    private long countVisit() {
        Path tmp = null;
        try {
            long visits = 0;
            if (Files.exists(visitsFile)) {
                String text = Files.readString(visitsFile, StandardCharsets.UTF_8).trim();
                try {
                    visits = Long.parseLong(text);
                } catch (NumberFormatException e) {
                    System.err.println("warning: " + visitsFile + " does not hold a number: counting from 0");
                }
            }
            visits++;
            tmp = Files.createTempFile(visitsFile.getParent(), ".visits-", ".tmp");
            Files.writeString(tmp, visits + "\n", StandardCharsets.UTF_8);
            try {
                Files.move(tmp, visitsFile, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, visitsFile, StandardCopyOption.REPLACE_EXISTING);
            }
            tmp = null; // moved: nothing left to clean up
            return visits;
        } catch (IOException | SecurityException e) {
            System.err.println("warning: cannot count the visit in " + visitsFile.getParent() + ": " + e);
            return -1;
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException e) {
                    System.err.println("warning: cannot remove " + tmp + ": " + e.getMessage());
                }
            }
        }
    }

    /**
     * Sends the status, the headers and (except for HEAD) the body; returns the status.
     * The length is known in advance, so the answer has a Content-Length header.
     */
    private static int send(HttpExchange exchange, int status, String contentType, String body, boolean head)
            throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", contentType);
        // Do not let a browser guess another type than the one sent.
        exchange.getResponseHeaders().set("X-Content-Type-Options", "nosniff");
        exchange.getResponseHeaders().set("Cache-Control", "no-store");
        if (head) {
            exchange.sendResponseHeaders(status, -1); // -1: no body follows
        } else {
            exchange.sendResponseHeaders(status, bytes.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(bytes);
            }
        }
        return status;
    }

    /** PORT as a number from 1 to 65535; anything else stops the program with exit status 2. */
    private static int parsePort(String text) {
        try {
            int port = Integer.parseInt(text.trim());
            if (port >= 1 && port <= 65535) {
                return port;
            }
        } catch (NumberFormatException e) {
            // reported below, with the out-of-range case
        }
        System.err.println(NAME + ": invalid PORT '" + text + "': expected a number from 1 to 65535");
        System.exit(EXIT_USAGE);
        return -1; // not reached
    }

    /** The environment variable's value, or the default when it is unset or empty. */
    private static String envOrDefault(String name, String defaultValue) {
        String value = System.getenv(name);
        return (value == null || value.isEmpty()) ? defaultValue : value;
    }

    private static String readVersion() {
        String version = HelloService.class.getPackage().getImplementationVersion();
        return (version == null || version.isBlank()) ? "dev" : version;
    }

    /** Escapes a string for a JSON value: the version comes from a file, do not trust it blindly. */
    private static String jsonEscape(String text) {
        StringBuilder out = new StringBuilder(text.length());
        for (char c : text.toCharArray()) {
            if (c == '"' || c == '\\') {
                out.append('\\').append(c);
            } else if (c < 0x20) {
                out.append(String.format("\\u%04x", (int) c));
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }
}
