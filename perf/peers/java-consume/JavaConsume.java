// JavaConsume: reads a Kafka topic from the start with Kafka's own Java consumer
// (kafka-clients, default settings) until N records have been seen, then prints
//   {"records":N,"bytes":B,"seconds":S,"rate":R,"cpu_user_s":U,"cpu_sys_s":Y}
// bytes: record values; seconds: first record to the N-th; CPU: utime/stime of the process.
// Single-file source mode:
//   java -cp "<cache>/peers/java/lib/*" JavaConsume.java --brokers host:port --topic T -n N
//        [--group G] [--timeout 120s]
import java.nio.file.Files;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Properties;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public class JavaConsume {
    static void fail(int code, String msg) {
        System.err.println("JavaConsume: " + msg);
        System.exit(code);
    }

    static void usage() {
        fail(2, "usage: JavaConsume.java --brokers host:port --topic T -n N [--group G] [--timeout 120s]");
    }

    // Go-style durations as franz-consume takes them: 500ms, 30s, 2m; a bare number is seconds.
    static long parseMillis(String s) {
        try {
            if (s.endsWith("ms")) return Long.parseLong(s.substring(0, s.length() - 2));
            if (s.endsWith("s")) return (long) (Double.parseDouble(s.substring(0, s.length() - 1)) * 1000);
            if (s.endsWith("m")) return (long) (Double.parseDouble(s.substring(0, s.length() - 1)) * 60000);
            return (long) (Double.parseDouble(s) * 1000);
        } catch (NumberFormatException e) {
            fail(2, "bad --timeout: " + s);
            return 0;
        }
    }

    // utime and stime of the whole process (all threads), as getrusage(RUSAGE_SELF) gives them.
    static double[] cpuSeconds() {
        try {
            String stat = new String(Files.readAllBytes(Paths.get("/proc/self/stat")));
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            // after "pid (comm) ": state is f[0], utime is field 14 of the line => f[11], stime f[12]
            double hz = 100.0; // USER_HZ on Linux
            return new double[] {Long.parseLong(f[11]) / hz, Long.parseLong(f[12]) / hz};
        } catch (Exception e) {
            return new double[] {-1, -1};
        }
    }

    public static void main(String[] args) {
        String brokers = "localhost:9092", topic = null, group = null;
        long n = 0, timeoutMs = 120_000;
        for (int i = 0; i < args.length; i++) {
            String a = args[i].replaceFirst("^--?", "");
            String v = null;
            int eq = a.indexOf('=');
            if (eq >= 0) {
                v = a.substring(eq + 1);
                a = a.substring(0, eq);
            } else if (i + 1 < args.length) {
                v = args[++i];
            }
            if (v == null) usage();
            switch (a) {
                case "brokers": brokers = v; break;
                case "topic": topic = v; break;
                case "group": group = v.isEmpty() ? null : v; break;
                case "timeout": timeoutMs = parseMillis(v); break;
                case "n":
                    try { n = Long.parseLong(v); } catch (NumberFormatException e) { usage(); }
                    break;
                default: usage();
            }
        }
        if (topic == null || n <= 0) usage();

        long start = System.nanoTime();
        long deadline = start + timeoutMs * 1_000_000L;

        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        if (group != null) p.put(ConsumerConfig.GROUP_ID_CONFIG, group);

        long records = 0, bytes = 0, first = 0;
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
            // Also the reachability check: throws a TimeoutException when no broker answers.
            List<PartitionInfo> parts;
            try {
                parts = c.partitionsFor(topic, Duration.ofNanos(Math.max(deadline - System.nanoTime(), 1)));
            } catch (org.apache.kafka.common.errors.TimeoutException e) {
                fail(1, "no broker answered at " + brokers + " within " + timeoutMs + " ms: " + e.getMessage());
                return;
            }
            if (parts == null || parts.isEmpty()) {
                fail(1, "topic " + topic + " has no partitions (does it exist?)");
            }
            if (group != null) {
                c.subscribe(List.of(topic));
            } else {
                List<TopicPartition> tps = new ArrayList<>();
                for (PartitionInfo pi : parts) tps.add(new TopicPartition(topic, pi.partition()));
                c.assign(tps);
                c.seekToBeginning(tps);
            }
            while (records < n) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    fail(1, "timed out after " + timeoutMs + " ms at " + records + "/" + n + " records");
                }
                ConsumerRecords<byte[], byte[]> batch = c.poll(Duration.ofNanos(Math.min(left, 1_000_000_000L)));
                for (ConsumerRecord<byte[], byte[]> r : batch) {
                    if (records >= n) break;
                    if (first == 0) first = System.nanoTime();
                    records++;
                    if (r.value() != null) bytes += r.value().length;
                }
            }
            double secs = (System.nanoTime() - first) / 1e9;
            if (group != null) {
                try {
                    c.commitSync(Duration.ofSeconds(10));
                } catch (RuntimeException e) {
                    System.err.println("JavaConsume: commit: " + e);
                }
            }
            double[] cpu = cpuSeconds();
            System.out.println(String.format(Locale.ROOT,
                    "{\"records\":%d,\"bytes\":%d,\"seconds\":%.3f,\"rate\":%.0f,\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f}",
                    records, bytes, secs, records / Math.max(secs, 1e-9), cpu[0], cpu[1]));
        } catch (org.apache.kafka.common.KafkaException e) {
            fail(1, e.toString());
        }
        System.exit(0);
    }
}
