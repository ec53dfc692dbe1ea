// Adds or replaces one user's SCRAM credentials on a Kafka cluster with the Admin API
// (AlterUserScramCredentials, what `kafka-configs --alter --add-config 'SCRAM-SHA-256=[...]'
// --entity-type users` sends), then reads them back. scripts/services runs it with Java's
// source launcher for kafka-central data formatted without SCRAM users; a new cluster gets
// them from `kafka-storage format --add-scram` instead.
//
//   java -cp '<kafka libs>/*' scripts/kafka/ScramUsers.java BOOTSTRAP USER PASSWORD_FILE MECHANISM...
//
// MECHANISM: SCRAM-SHA-256 or SCRAM-SHA-512. Upserting is idempotent. Exit 1 on failure.
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialAlteration;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.clients.admin.UserScramCredentialsDescription;

public class ScramUsers {
    // Kafka's minimum, and what kafka-storage format --add-scram uses by default.
    private static final int ITERATIONS = 4096;

    public static void main(String[] args) throws Exception {
        if (args.length < 4) {
            System.err.println("usage: ScramUsers BOOTSTRAP USER PASSWORD_FILE MECHANISM...");
            System.exit(2);
        }
        String bootstrap = args[0];
        String user = args[1];
        String password = Files.readString(Path.of(args[2])).strip();
        List<UserScramCredentialAlteration> upserts = new ArrayList<>();
        TreeSet<String> wanted = new TreeSet<>();
        for (int i = 3; i < args.length; i++) {
            ScramMechanism mechanism = ScramMechanism.fromMechanismName(args[i]);
            if (mechanism == ScramMechanism.UNKNOWN) {
                System.err.println("unknown SCRAM mechanism " + args[i]);
                System.exit(2);
            }
            upserts.add(new UserScramCredentialUpsertion(user, new ScramCredentialInfo(mechanism, ITERATIONS), password));
            wanted.add(mechanism.mechanismName());
        }
        Properties config = new Properties();
        config.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        config.put(AdminClientConfig.CLIENT_ID_CONFIG, "shiftscribe-services-scram-users");
        config.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        try (Admin admin = Admin.create(config)) {
            // One request per mechanism: Kafka 4.x (KRaft) rejects a request that names the
            // same user twice (DuplicateResourceException), even for different mechanisms.
            for (UserScramCredentialAlteration upsert : upserts) {
                admin.alterUserScramCredentials(List.of(upsert)).all().get(30, TimeUnit.SECONDS);
            }
            UserScramCredentialsDescription description =
                admin.describeUserScramCredentials(List.of(user)).description(user).get(30, TimeUnit.SECONDS);
            TreeSet<String> have = new TreeSet<>();
            for (ScramCredentialInfo info : description.credentialInfos()) {
                have.add(info.mechanism().mechanismName());
            }
            if (!have.containsAll(wanted)) {
                System.err.println("user " + user + " has " + have + " after the upsert, wanted " + wanted);
                System.exit(1);
            }
            System.out.println("SCRAM credentials of " + user + ": " + have);
        }
    }
}
